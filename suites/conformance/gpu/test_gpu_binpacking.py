"""Check 6: bin-packing efficiency of a mixed GPU workload, reported.

Setup: pods of 4, 2 and 1 GPUs whose sizes exactly tile the free GPUs of the untainted
exclusive GPU nodes, created largest first. Assess: the fraction of GPUs allocated, the
fraction of the workload scheduled, nodes full / partly used / empty, and fragmentation
(1 - largest free block / free GPUs), written to binpacking.json in the test's results
directory and printed; fails if a pod stays pending (GPUs stranded). Teardown: namespace
deleted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.checks.gpu.assess import assess_binpacking
from servegate.checks.gpu.namespace import GpuNamespace
from servegate.checks.gpu.report import record_binpacking
from servegate.checks.gpu.setup import binpack_setup
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_mixed_gpu_workload_packs_without_stranding(
    gpu_ns: GpuNamespace, sg_test_dir: Path, sg_results: RunResults
) -> None:
    run = binpack_setup(gpu_ns)
    report, failures = assess_binpacking(run.nodes, run.all_pods, run.workload)
    record_binpacking(report, sg_test_dir, sg_results)
    assert not failures, "\n".join(failures)
