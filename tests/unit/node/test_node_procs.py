"""The node's process table ends exactly the processes it started, by PID and start time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from servegate import procs
from servegate.cluster.node import gobuild
from servegate.cluster.node.layout import Layout
from servegate.errors import UserError
from servegate.procs import ProcessTable, ProcRecord, owned, start_ticks
from servegate.wait import wait_until

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_start_record_stop(tmp_path: Path) -> None:
    sup = Layout(tmp_path).processes()
    rec = sup.start("sleeper", SLEEPER)
    try:
        assert sup.alive("sleeper")
        assert sup.get("sleeper") == rec
        assert rec.argv == ()  # node processes may retitle themselves: PID and ticks decide
        assert [r.name for r in sup.records()] == ["sleeper"]
        with pytest.raises(UserError, match="already running"):
            sup.start("sleeper", SLEEPER)
    finally:
        sup.stop("sleeper", timeout=5)
    assert not owned(rec)
    assert sup.get("sleeper") is None


def test_a_reused_pid_is_not_ours(tmp_path: Path) -> None:
    proc = subprocess.Popen(SLEEPER)
    try:
        ticks = start_ticks(proc.pid)
        assert ticks is not None
        stranger = ProcRecord("x", proc.pid, ticks + 1)  # same PID, other start time
        assert not owned(stranger)
        assert procs.stop(stranger, timeout=1) is False
        assert proc.poll() is None  # left alone
    finally:
        proc.kill()
        proc.wait()


def test_stop_of_a_process_ignoring_sigterm_escalates(tmp_path: Path) -> None:
    sup = ProcessTable(tmp_path)
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ok', flush=True); time.sleep(60)"
    )
    rec = sup.start("stubborn", [sys.executable, "-c", code])
    log = sup.log_path("stubborn")
    # SIGTERM is ignored from here on (a wait for a state, bounded only against a hang)
    assert wait_until(lambda: log.read_text().strip() == "ok", 60, interval_s=0.02)
    sup.stop("stubborn", timeout=0.2)
    assert not owned(rec)


def test_missing_binary_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot start ghost"):
        ProcessTable(tmp_path).start("ghost", [str(tmp_path / "nope")])


def test_go_source_hash_follows_sources(tmp_path: Path) -> None:
    src = tmp_path / "prog"
    src.mkdir()
    (src / "go.mod").write_text("module x\n")
    (src / "main.go").write_text("package main\n")
    (src / "README.md").write_text("not an input")
    h1 = gobuild.source_hash(src, "go1.26")
    (src / "README.md").write_text("still not an input")
    assert gobuild.source_hash(src, "go1.26") == h1
    assert gobuild.source_hash(src, "go1.27") != h1
    (src / "main.go").write_text("package main\nfunc main() {}\n")
    assert gobuild.source_hash(src, "go1.26") != h1
