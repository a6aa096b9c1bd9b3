"""Children tied to a servegate process (servegate.procs.tied) are stopped by the next run
once that process died without stopping them, and never while it lives: with real
processes, a parent killed by SIGKILL (what the interrupt soak does to pytest)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from servegate import procs
from servegate.wait import poll

pytestmark = pytest.mark.integration

PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from servegate.procs import launch, tied

    child = launch("tied-child", [sys.executable, "-c", "import time; time.sleep(3600)"],
                   Path(sys.argv[1]), tied())
    print(child.pid, flush=True)
    time.sleep(3600)
    """
)


@pytest.fixture
def parent(tmp_path: os.PathLike[str]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A servegate process holding one tied child: (the parent, the child's pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(os.path.join(tmp_path, "child.log"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    try:
        yield proc, child
    finally:
        for pid in (proc.pid, child):
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_child_of_a_live_process_is_not_an_orphan(
    parent: tuple[subprocess.Popen[str], int],
) -> None:
    _proc, child = parent
    assert child not in [r.pid for r in procs.orphans()]
    assert _alive(child)


def test_the_child_of_a_killed_process_is_stopped_by_the_sweep(
    parent: tuple[subprocess.Popen[str], int],
) -> None:
    proc, child = parent
    proc.kill()
    proc.wait()
    assert _alive(child)  # a SIGKILL ends the parent only: the child would run on
    assert child in [r.pid for r in procs.orphans()]
    swept = procs.sweep_orphans()
    assert any(s.endswith(f"pid {child}") for s in swept), swept
    assert poll(lambda: not _alive(child), 30)
    assert child not in [r.pid for r in procs.orphans()]


def _tied_with(marker: str) -> list[int]:
    """Host PIDs of the tied processes whose environment carries ``marker``."""
    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if env.get("SG_TEST_MARK") == marker and procs.PARENT_ENV in env:
            found.append(proc.pid)
    return found


def test_a_tied_process_in_another_pid_namespace_is_never_swept(tmp_path: Path) -> None:
    """A pod's process on the local node (the Ray replica's simulator) is tied to a PID of its
    container's namespace. Seen from the host that PID names some other process or none, so
    the sweep once took it for an orphan and stopped a running pod's server."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and util-linux's unshare for a PID namespace")
    marker = f"ns-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k != procs.PARENT_ENV}
    env["SG_TEST_MARK"] = marker
    argv = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", PARENT]
    outer = subprocess.Popen([*argv, str(tmp_path / "child.log")], stdout=subprocess.PIPE, env=env)
    try:
        found = poll(lambda: _tied_with(marker) or None, 30)
        assert found and len(found) == 1, found
        (child,) = found
        parent = procs._parent_of(Path(f"/proc/{child}"))
        assert parent is not None and parent.pid == 1  # the namespace's own first process
        assert not procs.owned(parent)  # by the host's /proc: what made it look orphaned
        assert child not in [r.pid for r in procs.orphans()]
        assert _alive(child)
    finally:
        # the namespace's first process (under unshare) takes every process of it along
        for proc in psutil.Process(outer.pid).children(recursive=True)[:1]:
            proc.kill()
        outer.wait(timeout=30)
        assert outer.stdout is not None
        outer.stdout.close()
