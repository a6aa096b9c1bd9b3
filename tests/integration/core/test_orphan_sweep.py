"""Children tied to a servegate process (servegate.procs.tied) are stopped by the next run
once that process died without stopping them, and never while it lives: with real
processes, a parent killed by SIGKILL (what the interrupt soak does to pytest)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

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
