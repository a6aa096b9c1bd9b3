"""Check 6: bin-packing efficiency of a mixed GPU workload, reported.

Setup: pods of 4, 2 and 1 GPUs whose sizes exactly tile the free GPUs of the untainted
exclusive GPU nodes, created largest first. Assess: the fraction of GPUs allocated, the
fraction of the workload scheduled, nodes full / partly used / empty, and fragmentation
(1 - largest free block / free GPUs), written to binpacking.json in the test's results
directory and printed; fails if a pod stays pending (GPUs stranded). Teardown: namespace
deleted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gpu_checks import assess_binpacking
from gpu_env import GpuNamespace
from gpu_setup import binpack_setup

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_mixed_gpu_workload_packs_without_stranding(
    gpu_ns: GpuNamespace, sg_test_dir: Path, sg_results: Any
) -> None:
    run = binpack_setup(gpu_ns)
    report, failures = assess_binpacking(run.nodes, run.all_pods, run.workload)
    (sg_test_dir / "binpacking.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\nGPU bin-packing: " + json.dumps(report))
    rows = "\n".join(f"| {k.replace('_', ' ')} | {v} |" for k, v in report.items())
    sg_results.section(
        "gpu-binpacking",
        "GPU bin-packing of a mixed workload (simulated fleet)",
        "Pods of 4, 2 and 1 GPUs sized to tile the free GPUs of the exclusive GPU nodes, "
        "created largest first.\n\n| figure | value |\n|---|---:|\n" + rows,
        data=report,
    )
    assert not failures, "\n".join(failures)
