"""PID safety: a recorded process is signalled only if PID, start time and boot match (and,
in records of older versions, the command line)."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import psutil
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
    monkeypatch.setattr(procs, "DAEMONS", {})
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


class ForkedChild:
    """What ``launch`` returns for a child that has been forked but has not exec'd yet."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        return None


# What /proc/<pid>/cmdline shows of a child just started: before its exec, the command line
# of the process that forked it (this one); during the exec, nothing; after it, its own.
EXEC_STAGES = {
    "forked, not exec'd": list(psutil.Process().cmdline()),
    "in the middle of exec": [],
    "exec'd": ["/cache/etcd", "--name=x"],
}


@pytest.mark.parametrize("shown", EXEC_STAGES.values(), ids=EXEC_STAGES.keys())
def test_a_started_process_is_owned_from_its_fork_on(
    fake: Any, monkeypatch: Any, tmp_path: Path, shown: list[str]
) -> None:
    # The race of issue 14: the ownership check ran while the child had not exec'd yet.
    monkeypatch.setattr(procs, "launch", lambda *_a, **_k: ForkedChild(4242))
    fake.table[4242] = (100, shown)
    table = ProcessTable(tmp_path)
    rec = table.start("etcd", ["/cache/etcd", "--name=x"])
    assert (rec.pid, rec.start_ticks, rec.boot) == (4242, 100, procs.boot_id())
    assert table.records() == [rec]  # the boot id is kept in the pid file
    assert procs.owned(rec) and table.alive("etcd")
    assert table.stop_all(timeout=0.1) == ["etcd"]
    assert fake.signals == [(4242, signal.SIGTERM)]


def test_a_record_from_another_boot_names_no_process(fake: Any) -> None:
    # Start ticks count from boot: after a reboot, PID and ticks may come round again.
    fake.table[4242] = (100, ["/cache/etcd", "--name=x"])
    assert procs.owned(replace(_rec(), boot=procs.boot_id()))
    stale = replace(_rec(), boot="00000000-0000-0000-0000-000000000000")
    assert not procs.owned(stale)
    assert procs.stop(stale) is False
    assert fake.signals == []


def test_an_older_record_without_boot_id_also_checks_the_command_line(fake: Any) -> None:
    fake.table[4242] = (100, [])
    assert procs.owned(_rec())  # not shown: PID and start ticks decide
    fake.table[4242] = (100, ["/usr/bin/sshd", "-D"])
    assert not procs.owned(_rec())


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
