"""PID safety with real processes: only the process we started is ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from servegate.procs import ProcessTable, owned, record_of, stop

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


@pytest.fixture
def stopped_before_exec() -> Iterator[int]:
    """A child forked from this process and stopped before it execs /bin/sleep."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() of a threaded process
        pid = os.fork()
    if pid == 0:  # the child: stop, then become /bin/sleep when continued
        try:
            os.kill(os.getpid(), signal.SIGSTOP)
            os.execv("/bin/sleep", ["/bin/sleep", "60"])
        finally:
            os._exit(127)
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)  # returns once it has stopped
        assert os.WIFSTOPPED(status)
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_child_is_owned_before_during_and_after_its_exec(stopped_before_exec: int) -> None:
    pid = stopped_before_exec
    # Its command line is still ours (pytest's): the state the issue-14 flake caught.
    assert psutil.Process(pid).cmdline() == psutil.Process().cmdline()
    rec = record_of("sleeper", pid, ["/bin/sleep", "60"])
    assert rec is not None and owned(rec)
    os.kill(pid, signal.SIGCONT)
    while psutil.Process(pid).cmdline() != ["/bin/sleep", "60"]:
        assert owned(rec)  # every state it passes through on its way to the exec
    assert owned(rec)
    assert stop(rec, timeout=5)
    assert not owned(rec)
