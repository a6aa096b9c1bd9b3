"""PID safety with real processes: only the process we started is ended."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from servegate.cluster.procs import ProcessTable, owned, terminate

pytestmark = pytest.mark.integration
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_started_process_is_recorded_owned_and_stopped(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    rec = table.start("sleeper", SLEEPER)
    assert owned(rec) and table.load() == [rec]
    assert table.stop_all() == ["sleeper"]
    assert not psutil.pid_exists(rec.pid) or not owned(rec)
    assert table.load() == []


def test_a_stranger_with_a_recorded_pid_is_left_alone(tmp_path: Path) -> None:
    stranger = subprocess.Popen(SLEEPER)
    time.sleep(0.05)  # start in a later clock tick than the stranger (ticks are 10 ms)
    table = ProcessTable(tmp_path)
    try:
        mine = table.start("sleeper", SLEEPER)
        # A record that names the stranger's PID but our process's start time and command.
        forged = replace(mine, pid=stranger.pid)
        assert not owned(forged)
        assert terminate(forged) is False
        assert stranger.poll() is None
    finally:
        table.stop_all()
        stranger.kill()
        stranger.wait()
