"""bench/soak_rss.py for 20 s: it samples every process of a real run and its verdicts agree
with its exit status; the RSS it reads matches the kernel's own figure for a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from servegate.load.soak import process_rss
from servegate.sim.process import SimProcess

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _vm_rss(pid: int) -> int:
    """Resident set size as /proc/<pid>/status states it (psutil reads /proc/<pid>/statm)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def test_sampled_rss_is_the_kernels_figure() -> None:
    with SimProcess() as sim:
        assert sim.proc is not None
        got = process_rss(os.getpid())
        want = _vm_rss(sim.proc.pid)
    assert set(got) == {"sim"}  # this pytest process itself is no part of a run
    assert abs(got["sim"] - want) <= 0.05 * want


def test_a_short_soak_samples_every_process_and_judges(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    args = ["--duration", "20", "--interval", "1", "--warmup", "5", "--results", str(tmp_path)]
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak_rss.py"), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode in (0, 1), res.stdout + res.stderr
    doc = orjson.loads(out.read_bytes())
    assert doc["run_exit"] == 0
    samples = doc["samples"]
    roles = {r for s in samples for r in s["rss"]}
    workers = {r for r in roles if r.startswith("worker-")}
    assert roles - workers == {"cli", "master", "sim"} and len(workers) == 2
    done = [s["done"] for s in samples]
    assert done == sorted(done) and done[-1] > 0
    # the last point is the run's own final count and the records as closed on disk
    run = Path(doc["run_dir"])
    load = orjson.loads((run / "load.json").read_bytes())
    assert done[-1] == load["tally"]["done"]
    on_disk = sum(f.stat().st_size for f in (run / "records").iterdir())
    assert samples[-1]["records_bytes"] == on_disk
    # every role sampled after warm-up has a verdict, each consistent with the 10 % rule
    assert {v["role"] for v in doc["rss"]} == roles
    for v in doc["rss"]:
        assert v["passed"] == (v["end"] / v["baseline"] - 1 <= 0.10)
    passed = doc["records"]["passed"] and all(v["passed"] for v in doc["rss"])
    assert res.returncode == (0 if passed else 1)
    assert "RSS master" in res.stdout and "records:" in res.stdout
