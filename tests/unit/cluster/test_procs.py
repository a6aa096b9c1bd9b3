"""PID safety: a recorded process is signalled only if PID, start time and command line match."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest

from servegate.cluster import procs
from servegate.cluster.procs import ProcessTable, ProcRecord
from servegate.errors import UserError


class FakeProcess:
    """Stands in for psutil.Process: one fake process table, and the signals it received."""

    table: ClassVar[dict[int, tuple[float, list[str]]]] = {}
    signals: ClassVar[list[tuple[int, int]]] = []

    def __init__(self, pid: int) -> None:
        if pid not in self.table:
            raise psutil.NoSuchProcess(pid)
        self.pid = pid

    def status(self) -> str:
        return "sleeping"

    def cmdline(self) -> list[str]:
        return self.table[self.pid][1]

    def send_signal(self, sig: int) -> None:
        self.signals.append((self.pid, sig))
        del self.table[self.pid]

    def wait(self, timeout: float | None = None) -> None:
        return None


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeProcess]:
    FakeProcess.table = {}
    FakeProcess.signals = []
    monkeypatch.setattr(psutil, "Process", FakeProcess)
    monkeypatch.setattr(
        procs,
        "start_ticks",
        lambda pid: int(FakeProcess.table[pid][0]) if pid in FakeProcess.table else None,
    )
    return FakeProcess


def _rec(pid: int = 4242, t: int = 100, cmd: list[str] | None = None) -> ProcRecord:
    return ProcRecord("etcd", pid, cmd or ["/cache/etcd", "--name=x"], t, "/tmp/etcd.log")


def test_matching_process_is_owned_and_terminated(fake: Any) -> None:
    fake.table[4242] = (100.0, ["/cache/etcd", "--name=x"])
    assert procs.owned(_rec())
    assert procs.terminate(_rec())
    assert fake.signals == [(4242, signal.SIGTERM)]


@pytest.mark.parametrize(
    "live",
    [
        (100.0, ["/usr/bin/sshd", "-D"]),  # PID reused by another program
        (250.0, ["/cache/etcd", "--name=x"]),  # same command, started later: not ours
        (100.0, ["/cache/etcd", "--name=y"]),  # different arguments
    ],
)
def test_reused_pid_is_never_signalled(fake: Any, live: tuple[float, list[str]]) -> None:
    fake.table[4242] = live
    assert not procs.owned(_rec())
    assert procs.terminate(_rec()) is False
    assert fake.signals == []


def test_vanished_process_is_not_owned(fake: Any) -> None:
    assert not procs.owned(_rec())
    assert procs.terminate(_rec()) is False


def test_stop_all_goes_in_reverse_start_order_and_clears_the_table(
    fake: Any, tmp_path: Path
) -> None:
    table = ProcessTable(tmp_path)
    recs = [_rec(10, 1, ["a"]), _rec(11, 2, ["b"]), _rec(12, 3, ["c"])]
    table._save(recs)
    for r in recs[:2]:  # 12 is gone: it is skipped, not an error
        fake.table[r.pid] = (r.start_ticks, r.cmdline)
    fake.table[12] = (9.0, ["someone-else"])
    assert table.stop_all() == ["etcd", "etcd"]
    assert [pid for pid, _ in fake.signals] == [11, 10]
    assert 12 in fake.table  # never touched
    assert table.load() == []


def test_corrupt_process_table_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "procs.json").write_text("{not json")
    with pytest.raises(UserError, match=r"procs\.json: unreadable process table"):
        ProcessTable(tmp_path).load()
