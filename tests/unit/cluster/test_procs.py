"""PID safety: a recorded process is signalled only if PID, start time and command line match."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from servegate import procs
from servegate.errors import UserError
from servegate.procs import ProcessTable, ProcRecord


class FakeProcesses:
    """One fake process table (PID -> start ticks, command line), and the signals sent."""

    table: ClassVar[dict[int, tuple[int, list[str]]]] = {}
    signals: ClassVar[list[tuple[int, int]]] = []

    @classmethod
    def stat(cls, pid: int) -> tuple[str, int] | None:
        return ("S", cls.table[pid][0]) if pid in cls.table else None

    @classmethod
    def cmdline(cls, pid: int) -> tuple[str, ...]:
        return tuple(cls.table[pid][1]) if pid in cls.table else ()

    @classmethod
    def kill(cls, pid: int, sig: int) -> None:
        cls.signals.append((pid, sig))
        cls.table.pop(pid, None)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeProcesses]:
    FakeProcesses.table = {}
    FakeProcesses.signals = []
    monkeypatch.setattr(procs, "_stat", FakeProcesses.stat)
    monkeypatch.setattr(procs, "_cmdline", FakeProcesses.cmdline)
    monkeypatch.setattr(procs, "_signal", FakeProcesses.kill)
    monkeypatch.setattr(procs, "SETTLE_S", 0.05)
    return FakeProcesses


def _rec(
    pid: int = 4242, t: int = 100, cmd: list[str] | None = None, name: str = "etcd"
) -> ProcRecord:
    argv = tuple(cmd or ["/cache/etcd", "--name=x"])
    return ProcRecord(name, pid, t, argv, "/tmp/etcd.log")


def test_matching_process_is_owned_and_terminated(fake: Any) -> None:
    fake.table[4242] = (100, ["/cache/etcd", "--name=x"])
    assert procs.owned(_rec())
    assert procs.stop(_rec())
    assert fake.signals == [(4242, signal.SIGTERM)]


@pytest.mark.parametrize(
    "live",
    [
        (100, ["/usr/bin/sshd", "-D"]),  # PID reused by another program
        (250, ["/cache/etcd", "--name=x"]),  # same command, started later: not ours
        (100, ["/cache/etcd", "--name=y"]),  # different arguments
    ],
)
def test_reused_pid_is_never_signalled(fake: Any, live: tuple[int, list[str]]) -> None:
    fake.table[4242] = live
    assert not procs.owned(_rec())
    assert procs.stop(_rec()) is False
    assert fake.signals == []


def test_vanished_process_is_not_owned(fake: Any) -> None:
    assert not procs.owned(_rec())
    assert procs.stop(_rec()) is False


def test_a_command_line_not_shown_yet_is_awaited(fake: Any, monkeypatch: Any) -> None:
    # Right after exec /proc/<pid>/cmdline is empty for a moment: ownership must not fail.
    fake.table[4242] = (100, [])
    assert procs.owned(_rec())  # never shown: PID and start ticks decide
    shown = iter([(), (), ("/usr/bin/sshd", "-D")])
    monkeypatch.setattr(procs, "_cmdline", lambda _pid: next(shown))
    assert not procs.owned(_rec())  # shown a moment later, and it is not ours


def test_a_record_without_argv_is_identified_by_pid_and_start_ticks(fake: Any) -> None:
    fake.table[4242] = (100, ["redis-server 127.0.0.1:6379"])  # it retitled itself
    assert procs.owned(ProcRecord("redis", 4242, 100))
    assert not procs.owned(ProcRecord("redis", 4242, 101))


def test_stop_all_goes_in_reverse_start_order_and_clears_the_table(
    fake: Any, tmp_path: Path
) -> None:
    table = ProcessTable(tmp_path)
    recs = [_rec(10, 1, ["a"], "a"), _rec(11, 2, ["b"], "b"), _rec(12, 3, ["c"], "c")]
    for r in recs:
        table._write(r)
    assert table.records() == recs
    for r in recs[:2]:  # 12 is gone: it is skipped, not an error
        fake.table[r.pid] = (r.start_ticks, list(r.argv))
    fake.table[12] = (9, ["someone-else"])
    assert table.stop_all() == ["b", "a"]
    assert [pid for pid, _ in fake.signals] == [11, 10]
    assert 12 in fake.table  # never touched
    assert table.records() == []


def test_corrupt_process_table_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "procs.json").write_text("{not json")
    with pytest.raises(UserError, match=r"procs\.json: unreadable process table"):
        ProcessTable(tmp_path).records()


def test_corrupt_pid_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "etcd.pid").write_text("12 ticks")
    with pytest.raises(UserError, match=r"etcd\.pid: unreadable process record"):
        ProcessTable(tmp_path).records()


def test_state_written_by_older_versions_is_understood(fake: Any, tmp_path: Path) -> None:
    # The control plane's procs.json (argv was called cmdline) and the node's pid files.
    (tmp_path / "procs.json").write_text(
        json.dumps(
            [
                {
                    "name": "etcd",
                    "pid": 4242,
                    "cmdline": ["/cache/etcd", "--name=x"],
                    "start_ticks": 100,
                    "log": "/tmp/etcd.log",
                },
                {"name": "kwok", "pid": 4343, "cmdline": ["kwok"], "start_ticks": 300, "log": ""},
            ]
        )
    )
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "kubelet.pid").write_text("4444 200\n")
    table = ProcessTable(tmp_path)
    kubelet = ProcRecord("kubelet", 4444, 200, (), str(tmp_path / "logs" / "kubelet.log"))
    kwok = ProcRecord("kwok", 4343, 300, ("kwok",), "")
    assert table.records() == [_rec(), kubelet, kwok]  # in start order
    fake.table[4242] = (100, ["/cache/etcd", "--name=x"])
    fake.table[4444] = (200, ["/usr/bin/kubelet"])
    assert table.alive("etcd") and table.alive("kubelet") and not table.alive("kwok")
    table.stop("kwok")  # a change moves the old table into pid files
    assert not (tmp_path / "procs.json").exists()
    assert table.records() == [_rec(), kubelet]
    assert table.stop_all() == ["kubelet", "etcd"]
    assert table.records() == []
