"""What the GPU checks add to the run's results: the bin-packing figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from servegate.report.run_index import RunResults


def record_binpacking(report: dict[str, Any], test_dir: Path, results: RunResults) -> None:
    """Write ``binpacking.json`` in the test's directory, print it, and add it to the run's
    report as the section ``gpu-binpacking``."""
    (test_dir / "binpacking.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\nGPU bin-packing: " + json.dumps(report))
    rows = "\n".join(f"| {k.replace('_', ' ')} | {v} |" for k, v in report.items())
    results.section(
        "gpu-binpacking",
        "GPU bin-packing of a mixed workload (simulated fleet)",
        "Pods of 4, 2 and 1 GPUs sized to tile the free GPUs of the exclusive GPU nodes, "
        "created largest first.\n\n| figure | value |\n|---|---:|\n" + rows,
        data=report,
    )
