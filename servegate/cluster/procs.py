"""Host processes of the control plane, recorded so that ``down`` ends exactly those.

Each process is recorded (``procs.json`` in the state directory) with its PID, its full
command line and its start time. Before a signal is sent the live process must match all
three: a PID reused by an unrelated process is never touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from servegate.errors import UserError

CheckFn = Callable[[], bool]


@dataclass(frozen=True)
class ProcRecord:
    """A process servegate started."""

    name: str
    pid: int
    cmdline: list[str]
    create_time: float
    log: str


def owned(rec: ProcRecord) -> bool:
    """True if the live process with ``rec.pid`` is the very process we started."""
    try:
        proc = psutil.Process(rec.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # Start times are whole clock ticks (10 ms): equal within half a tick means the same start.
        same_start = abs(proc.create_time() - rec.create_time) < 0.005
        return same_start and proc.cmdline() == rec.cmdline
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


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


class ProcessTable:
    """The recorded processes of one cluster, persisted after every change."""

    def __init__(self, state: Path) -> None:
        self.path = state / "procs.json"
        self.log_dir = state / "logs"
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def load(self) -> list[ProcRecord]:
        """Records in start order; an unreadable file is an error naming it."""
        if not self.path.exists():
            return []
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            return [ProcRecord(**item) for item in raw]
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
        try:
            proc = psutil.Process(child.pid)
            rec = ProcRecord(name, child.pid, proc.cmdline(), proc.create_time(), str(log))
        except psutil.NoSuchProcess:
            rec = ProcRecord(name, child.pid, list(argv), 0.0, str(log))
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
        """Stop every recorded process in reverse start order; return the names stopped."""
        stopped = []
        records = self.load()
        for rec in reversed(records):
            if terminate(rec, timeout):
                stopped.append(rec.name)
            child = self._children.pop(rec.pid, None)
            if child is not None:  # reap it, so no zombie and no ResourceWarning remain
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        self._save([])
        return stopped

    def tail(self, rec: ProcRecord, lines: int = 3) -> str:
        """Last lines of a process's log, for one-line error messages."""
        try:
            text = Path(rec.log).read_text("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip()[:200] for line in text[-lines:])


def wait_until(check: CheckFn, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
