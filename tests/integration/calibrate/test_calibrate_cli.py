"""`servegate calibrate` end to end, tiny: simulator + Locust, one probe, file written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from servegate.load.calibration_file import load_calibration

pytestmark = pytest.mark.integration


def test_calibrate_writes_a_valid_file_to_the_xdg_cache(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    argv = [
        sys.executable, "-m", "servegate", "calibrate",
        "--duration", "0.5", "--max-probes", "1", "--start-rate", "10",
        # lenient limits: this checks the plumbing, not this (possibly busy) machine's speed
        "--lag-p50-ms", "200", "--lag-p99-ms", "2000", "--min-achieved", "0.5",
        "--output-tokens", "4", "--prompt-tokens", "4",
    ]  # fmt: skip
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = tmp_path / "cache" / "servegate" / "calibration.json"
    assert f"wrote {path}" in proc.stdout
    cal = load_calibration(path)
    assert cal is not None
    assert [p.target_rps for p in cal.probes] == [10.0]
    assert cal.probes[0].passed
    assert cal.ceiling_rps_per_worker == pytest.approx(cal.probes[0].sent_rps)
    assert cal.ceiling_chunks_per_s_per_worker > 0
    assert cal.bound_by == "none"
    assert cal.timing_error is not None and cal.timing_error.requests > 0
    # the simulator sent its timestamps, so both errors were measured
    assert cal.timing_error.ttft_abs_p50_ms is not None
    assert cal.timing_error.gap_abs_p50_ms is not None


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = [
        sys.executable, "-m", "servegate", "calibrate", "--duration", "0.5", "--max-probes", "1",
        "--start-rate", "10", "--lag-p50-ms", "200", "--lag-p99-ms", "2000",
        "--min-achieved", "0.5", "--output-tokens", "2", "--output", str(blocker / "cal.json"),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot write calibration" in err[0], proc.stderr
    assert "Traceback" not in proc.stderr
