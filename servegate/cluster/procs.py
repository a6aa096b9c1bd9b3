"""Host processes of the control plane, recorded so that ``down`` ends exactly those.

Each process is recorded (``procs.json`` in the state directory) with its PID, its full
command line and its start time. Before a signal is sent the live process must match all
three: a PID reused by an unrelated process is never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import signal
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from servegate.errors import UserError


@dataclass(frozen=True)
class ProcRecord:
    """A process servegate started."""

    name: str
    pid: int
    cmdline: list[str]
    start_ticks: int  # field 22 of /proc/<pid>/stat: clock ticks after boot, never rewritten
    log: str


def start_ticks(pid: int) -> int | None:
    """The kernel's start time of ``pid`` in clock ticks, or None if there is no such process.

    Wall-clock start times (psutil's create_time) are derived from the boot time, which a VM
    may report differently from one read to the next; the tick count does not move.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # comm may contain spaces and parentheses
    return int(fields[19])


def owned(rec: ProcRecord) -> bool:
    """True if the live process with ``rec.pid`` is the very process we started."""
    try:
        proc = psutil.Process(rec.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return start_ticks(rec.pid) == rec.start_ticks and _same_command(
            proc.cmdline(), rec.cmdline
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _same_command(live: list[str], recorded: list[str]) -> bool:
    """The live command line is the recorded argv (an interpreter may precede a script)."""
    return bool(recorded) and live[-len(recorded) :] == recorded


def terminate(rec: ProcRecord, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; only if :func:`owned`. True if it was ours."""
    if not owned(rec):
        return False
    try:
        proc = psutil.Process(rec.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            if owned(rec):
                proc.send_signal(signal.SIGKILL)
                proc.wait(5)
    except psutil.NoSuchProcess:
        pass
    return True


#: Daemons started by this Python process, kept for the process's lifetime: they outlive the
#: ProcessTable or Supervisor that started them, and a collected Popen of a live child warns.
DAEMONS: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _let_daemons_go() -> None:
    """At exit, the cluster's daemons stay running on purpose (``cluster up`` returns, a
    session keeps the cluster up): drop their Popen objects without the "subprocess ... is
    still running" ResourceWarning, which is meant for children leaked by mistake."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        DAEMONS.clear()
        gc.collect()


def _upgrade(item: dict[str, object]) -> dict[str, object]:
    """Read a record written before start ticks were kept (it had a wall-clock create_time)."""
    if "create_time" not in item:
        return item
    item = dict(item)
    created = float(item.pop("create_time"))  # type: ignore[arg-type]
    pid = int(item["pid"])  # type: ignore[call-overload]
    try:
        proc = psutil.Process(pid)
        same = abs(proc.create_time() - created) < 2.0 and proc.cmdline() == item["cmdline"]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        same = False
    item["start_ticks"] = (start_ticks(pid) or -1) if same else -1
    return item


class ProcessTable:
    """The recorded processes of one cluster, persisted after every change."""

    def __init__(self, state: Path) -> None:
        self.path = state / "procs.json"
        self.log_dir = state / "logs"
        self._children = DAEMONS

    def load(self) -> list[ProcRecord]:
        """Records in start order; an unreadable file is an error naming it."""
        if not self.path.exists():
            return []
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            return [ProcRecord(**_upgrade(item)) for item in raw]  # type: ignore[arg-type]
        except (ValueError, TypeError) as exc:
            raise UserError(
                f"{self.path}: unreadable process table ({exc}); remove it by hand "
                "after checking that no servegate process is running"
            ) from None

    def _save(self, records: list[ProcRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in records], indent=1), "utf-8")
        tmp.replace(self.path)

    def get(self, name: str) -> ProcRecord | None:
        return next((r for r in self.load() if r.name == name), None)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ProcRecord:
        """Start ``argv`` in its own session with output to logs/<name>.log, and record it."""
        current = self.get(name)
        if current is not None and owned(current):
            return current
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        full_env = dict(os.environ)
        full_env.update(env or {})
        with log.open("ab") as fh:
            try:
                child = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise UserError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from None
        self._children[child.pid] = child
        # The argv we exec'd, not /proc/<pid>/cmdline: that is briefly empty right after exec.
        rec = ProcRecord(
            name, child.pid, [str(a) for a in argv], start_ticks(child.pid) or -1, str(log)
        )
        records = [r for r in self.load() if r.name != name] + [rec]
        self._save(records)
        return rec

    def exited(self, rec: ProcRecord) -> int | None:
        """Exit code if a child started by this object has exited (reaping it), else None."""
        child = self._children.get(rec.pid)
        if child is not None:
            return child.poll()
        return None if owned(rec) else -1

    def stop_all(self, timeout: float = 10.0) -> list[str]:
        """Stop every recorded process; return the names stopped.

        SIGTERM goes to all of them first (in reverse start order) and then each is awaited,
        so shutdowns overlap: each component takes a couple of seconds to exit cleanly.
        """
        records = [r for r in reversed(self.load()) if owned(r)]
        for rec in records:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(rec.pid).send_signal(signal.SIGTERM)
        stopped = []
        for rec in records:
            terminate(rec, timeout)  # already signalled: waits, then SIGKILL if still ours
            stopped.append(rec.name)
            child = self._children.pop(rec.pid, None)
            if child is not None:  # reap it, so no zombie and no ResourceWarning remain
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=5)
        # Anything still ours (SIGKILL did not take) stays recorded, so `down` can be retried.
        self._save([r for r in self.load() if owned(r)])
        return stopped

    def tail(self, rec: ProcRecord, lines: int = 3) -> str:
        """Last lines of a process's log, for one-line error messages."""
        try:
            text = Path(rec.log).read_text("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip()[:200] for line in text[-lines:])
