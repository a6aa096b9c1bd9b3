"""Start and stop the node's host processes, by PID only.

Every process is recorded in a pid file together with its kernel start time, so that a
later ``down`` (even from another servegate process, after a crash) ends exactly the
processes this node started and never a process that merely reused the PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from servegate.cluster.procs import DAEMONS
from servegate.cluster.procs import start_ticks as start_ticks
from servegate.errors import UserError


@dataclass(frozen=True)
class ProcRecord:
    """A process we started: its PID and its start time in clock ticks since boot."""

    name: str
    pid: int
    start_ticks: int


def is_running(rec: ProcRecord) -> bool:
    """True if ``rec`` still names the same live (non-zombie) process."""
    try:
        stat = Path(f"/proc/{rec.pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0] != "Z" and int(fields[19]) == rec.start_ticks


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process in KiB (VmRSS), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class Supervisor:
    """Owns the pid files and logs of the node's processes under one directory."""

    def __init__(self, run_dir: Path) -> None:
        self.pid_dir = run_dir / "pids"
        self.log_dir = run_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        nice: int = 0,
    ) -> ProcRecord:
        """Start ``argv`` detached from our terminal, log to logs/<name>.log, record its PID."""
        existing = self.record(name)
        if existing is not None and is_running(existing):
            raise UserError(f"node process {name} already running (pid {existing.pid})")
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env or {})
        with self.log_path(name).open("ab") as log:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    start_new_session=True,
                    preexec_fn=(lambda: os.nice(nice)) if nice else None,
                )
            except OSError as exc:
                raise UserError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from exc
        ticks = start_ticks(proc.pid)
        rec = ProcRecord(name, proc.pid, ticks if ticks is not None else -1)
        (self.pid_dir / f"{name}.pid").write_text(f"{rec.pid} {rec.start_ticks}\n")
        DAEMONS[proc.pid] = proc
        return rec

    def record(self, name: str) -> ProcRecord | None:
        """The recorded process ``name``, or None if there is no valid pid file."""
        try:
            pid_s, ticks_s = (self.pid_dir / f"{name}.pid").read_text().split()
            return ProcRecord(name, int(pid_s), int(ticks_s))
        except (FileNotFoundError, ValueError):
            return None

    def records(self) -> list[ProcRecord]:
        if not self.pid_dir.is_dir():
            return []
        out = [self.record(p.stem) for p in sorted(self.pid_dir.glob("*.pid"))]
        return [r for r in out if r is not None]

    def alive(self, name: str) -> bool:
        rec = self.record(name)
        if rec is None:
            return False
        child = DAEMONS.get(rec.pid)
        if child is not None and child.poll() is not None:
            return False
        return is_running(rec)

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """SIGTERM the recorded process, SIGKILL after ``timeout``; remove its pid file."""
        rec = self.record(name)
        if rec is not None:
            stop_pid(rec, timeout)
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)


def stop_pid(rec: ProcRecord, timeout: float, child: subprocess.Popen[bytes] | None = None) -> None:
    """End one recorded process: TERM, wait, KILL. Reaps it if it is our child."""
    if not is_running(rec):
        if child is not None:
            child.poll()
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(rec.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                return
            if not is_running(rec):
                return
            time.sleep(0.05)
