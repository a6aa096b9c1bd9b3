"""PID safety with real processes: only the process we started is ended."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from servegate.procs import ProcessTable, owned, stop

pytestmark = pytest.mark.integration
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_started_process_is_recorded_owned_and_stopped(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    rec = table.start("sleeper", SLEEPER)
    assert owned(rec) and table.records() == [rec]
    assert table.stop_all() == ["sleeper"]
    assert not psutil.pid_exists(rec.pid) or not owned(rec)
    assert table.records() == []


def test_a_stranger_with_a_recorded_pid_is_left_alone(tmp_path: Path) -> None:
    stranger = subprocess.Popen(SLEEPER)
    time.sleep(0.05)  # start in a later clock tick than the stranger (ticks are 10 ms)
    table = ProcessTable(tmp_path)
    try:
        mine = table.start("sleeper", SLEEPER)
        # A record that names the stranger's PID but our process's start time and command.
        forged = replace(mine, pid=stranger.pid)
        assert not owned(forged)
        assert stop(forged) is False
        assert stranger.poll() is None
    finally:
        table.stop_all()
        stranger.kill()
        stranger.wait()


def test_a_process_is_owned_the_moment_it_is_started(tmp_path: Path) -> None:
    # /proc/<pid>/cmdline can be empty just after exec: that must not make it a stranger.
    table = ProcessTable(tmp_path)
    try:
        for i in range(20):
            rec = table.start(f"p{i}", ["/bin/sleep", "60"])
            assert owned(rec), f"p{i} (pid {rec.pid}) not owned right after start"
    finally:
        assert len(table.stop_all(timeout=5)) == 20
