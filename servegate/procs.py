"""Processes servegate starts and ends: start, record, own, stop. The one way to do it.

A daemon (a control-plane component, a node process, an add-on) is started by a
:class:`ProcessTable`, which records it in ``pids/<name>.pid`` under the table's directory
(output goes to ``logs/<name>.log``). The record keeps the PID, the kernel's start time of
the process in clock ticks and the id of the boot it was started in, and for the control
plane also its command line. A signal goes only to a live process that still matches its
record, so a PID reused by an unrelated process is never touched, even by a later servegate
run after a crash or a reboot. PID, start ticks and boot id are fixed from the moment the
process is forked, so a process is recognised as ours before, during and after its exec.

A child that only lives as long as the Python object holding it (the simulator, Locust's
master and workers, a port-forward) is started with :func:`launch` or ``subprocess.Popen``
and ended with :func:`end`. A command that is simply run to its end, with a one-line error
if it fails, goes through :func:`run`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import json
import os
import signal
import subprocess
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from servegate.errors import UserError
from servegate.wait import poll

#: The kernel's random id of the running boot.
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@functools.cache
def boot_id() -> str:
    """The id of the running boot ("" if the kernel does not tell). Start ticks count from
    boot, so a record is only meaningful within the boot it was made in."""
    try:
        return BOOT_ID.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


@dataclass(frozen=True)
class ProcRecord:
    """A process servegate started (or found and pinned to its start time)."""

    name: str
    pid: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: clock ticks after boot, never rewritten
    argv: tuple[str, ...] = ()  # what was started; empty for processes that retitle themselves
    log: str = ""
    boot: str = ""  # boot id when it was recorded; empty in records of older versions


def _stat(pid: int) -> tuple[str, int] | None:
    """State letter and start ticks of ``pid``, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # comm may contain spaces and parentheses
    return fields[0], int(fields[19])


def start_ticks(pid: int) -> int | None:
    """The kernel's start time of ``pid`` in clock ticks, or None if there is no such process.

    Wall-clock start times (psutil's create_time) are derived from the boot time, which a VM
    may report differently from one read to the next; the tick count does not move.
    """
    stat = _stat(pid)
    return None if stat is None else stat[1]


def _running(rec: ProcRecord) -> bool:
    """``rec.pid`` is alive (not a zombie) and started at ``rec.start_ticks``."""
    stat = _stat(rec.pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[1] == rec.start_ticks


def _cmdline(pid: int) -> tuple[str, ...]:
    """The live command line; empty for a process that is gone, or in the middle of exec
    (before its exec, a forked child shows its parent's)."""
    try:
        return tuple(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ()


def _same_command(live: Sequence[str], recorded: Sequence[str]) -> bool:
    """The live command line is the recorded argv (an interpreter may precede a script)."""
    return bool(recorded) and tuple(live[-len(recorded) :]) == tuple(recorded)


def owned(rec: ProcRecord) -> bool:
    """True if the live process with ``rec.pid`` is the very process we started.

    PID and start ticks must match, and the record's boot must be the running one: within a
    boot, no two processes share PID and start tick. These hold from the fork on, so the
    answer does not depend on how far the child has got with its exec (its command line is
    its parent's before the exec and empty for a moment during it). Records of older
    versions carry no boot id: their command line, where recorded and shown, must match too.
    """
    if not _running(rec):
        return False
    if rec.boot:
        return rec.boot == boot_id()
    if not rec.argv:
        return True
    live = _cmdline(rec.pid)
    return not live or _same_command(live, rec.argv)


def record_of(name: str, pid: int, argv: Sequence[str] = (), log: str = "") -> ProcRecord | None:
    """A record of the live process ``pid``: its start ticks and the running boot, read now.
    None if there is no such process."""
    ticks = start_ticks(pid)
    if ticks is None:
        return None
    return ProcRecord(name, pid, ticks, tuple(str(a) for a in argv), log, boot_id())


def pin(name: str, pid: int) -> ProcRecord | None:
    """A record of a process found by a scan (not started here), pinned to its start time,
    so that stopping it never signals a process that reused the PID meanwhile."""
    return record_of(name, pid)


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process in KiB (VmRSS), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def tail(rec: ProcRecord, lines: int = 3) -> str:
    """Last lines of a process's log, for one-line error messages."""
    try:
        text = Path(rec.log).read_text("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip()[:200] for line in text[-lines:])


#: Daemons started by this Python process, kept for the process's lifetime: they outlive the
#: ProcessTable that started them, and a collected Popen of a live child warns.
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


#: A child that must not outlive the servegate process that started it carries that process's
#: identity in this environment variable, ``pid:start_ticks:boot``.
PARENT_ENV = "SERVEGATE_PARENT"


def tied(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) for a child that must end with this process: the
    Locust master and workers of a run, its simulator, its port-forwards. It names this
    process, so that if we die without stopping the child (SIGKILL, a CI timeout), the next
    servegate run recognises it as an orphan and stops it (:func:`sweep_orphans`)."""
    out = dict(os.environ if env is None else env)
    me = record_of("self", os.getpid())
    if me is not None:
        out[PARENT_ENV] = f"{me.pid}:{me.start_ticks}:{me.boot}"
    return out


def _parent_of(proc: Path) -> ProcRecord | None:
    """The record of the process a child was tied to, from its initial environment."""
    try:
        environ = (proc / "environ").read_bytes()
    except OSError:
        return None
    key = PARENT_ENV.encode() + b"="
    value = next((v[len(key) :] for v in environ.split(b"\0") if v.startswith(key)), None)
    if value is None:
        return None
    try:
        pid, ticks, boot = value.decode("ascii").split(":")
        return ProcRecord("parent", int(pid), int(ticks), boot=boot)
    except ValueError:
        return None


def _pid_namespace(proc: Path) -> str | None:
    try:
        return os.readlink(proc / "ns" / "pid")
    except OSError:
        return None


def orphans() -> list[ProcRecord]:
    """This user's processes tied to a servegate process that is gone (pid, start ticks and
    boot id no longer match a live process): left by a run that died without stopping them.
    Each is pinned to its start time, so stopping it never touches a reused PID."""
    found = []
    me, uid = os.getpid(), os.getuid()
    pidns = _pid_namespace(Path("/proc/self"))
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            if proc.stat().st_uid != uid:
                continue
        except OSError:
            continue
        if _pid_namespace(proc) != pidns:
            # A container's process (a pod on the local node): the parent it names is a
            # PID of the container's namespace, meaningless here; never ours to stop.
            continue
        parent = _parent_of(proc)
        if parent is None or owned(parent):
            continue
        try:
            name = (proc / "comm").read_text().strip()
        except OSError:
            continue
        rec = record_of(name, int(proc.name))
        if rec is not None:
            found.append(rec)
    return found


def sweep_orphans(timeout: float = 5.0) -> list[str]:
    """Stop the processes of :func:`orphans`; one ``name pid N`` per process stopped."""
    found = orphans()
    stop_all(found, timeout)
    return [f"{r.name} pid {r.pid}" for r in found]


def launch(
    name: str,
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    nice: int = 0,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (a Ctrl-C on our terminal reaches only us), stdin
    from /dev/null, stdout and stderr appended to ``log``. ``env`` replaces the environment."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        try:
            return subprocess.Popen(
                [str(a) for a in argv],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
                preexec_fn=(lambda: os.nice(nice)) if nice else None,
            )
        except OSError as exc:
            raise UserError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from None


def end(child: subprocess.Popen[Any], grace: float, drain: threading.Thread | None = None) -> int:
    """End a child this process holds: SIGTERM, SIGKILL after ``grace`` s. Its exit code.

    ``drain``: the thread reading the child's output, given up to 5 s to read what is left."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if drain is not None:
        drain.join(timeout=5)
    return child.returncode


def run(
    cmd: Sequence[str], what: str, *, lines: int = 3, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` to its end with its output captured as text (``kw`` go to subprocess.run).

    A non-zero exit raises ``UserError("<what> failed: <its last lines of stderr, or
    stdout>")``."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False, **kw)
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-lines:])
        raise UserError(f"{what} failed: {tail}")
    return proc


def exited(rec: ProcRecord) -> int | None:
    """Exit code once ``rec``'s process has ended (reaping it if it is our child), else None;
    -1 for a process started by another servegate process that is no longer ours."""
    child = DAEMONS.get(rec.pid)
    if child is not None:
        return child.poll()
    return None if owned(rec) else -1


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _gone(rec: ProcRecord) -> bool:
    child = DAEMONS.get(rec.pid)
    if child is not None and child.poll() is not None:
        return True
    return not _running(rec)


def _reap(pid: int) -> None:
    """Collect our child's exit status, so no zombie and no ResourceWarning remain."""
    child = DAEMONS.get(pid)
    if child is not None and child.poll() is not None:
        del DAEMONS[pid]


def stop(rec: ProcRecord, timeout: float = 10.0, *, signalled: bool = False) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; only if :func:`owned`. True if it was ours.

    ``signalled``: the caller has just checked ownership and sent SIGTERM itself.
    """
    if not signalled and not owned(rec):
        _reap(rec.pid)
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if sig == signal.SIGKILL or not signalled:
            _signal(rec.pid, sig)
        if poll(lambda: _gone(rec), wait, interval_s=0.05):
            break
    _reap(rec.pid)
    return True


def stop_all(records: Sequence[ProcRecord], timeout: float = 10.0) -> list[str]:
    """Stop the processes of ``records`` that are ours, in that order; return their names.

    SIGTERM goes to all of them first and then each is awaited, so shutdowns overlap: each
    component takes a couple of seconds to exit cleanly.
    """
    mine = [r for r in records if owned(r)]
    for rec in mine:
        _signal(rec.pid, signal.SIGTERM)
    for rec in mine:
        stop(rec, timeout, signalled=True)  # waits, then SIGKILL if still running
    return [r.name for r in mine]


def _record(item: Mapping[str, Any]) -> ProcRecord:
    """A record from its JSON form (``cmdline`` is the old name of ``argv``)."""
    argv = item.get("argv", item.get("cmdline", ()))
    if not isinstance(argv, list | tuple):
        raise TypeError(f"argv of {item.get('name')!r} is not a list")
    return ProcRecord(
        name=str(item["name"]),
        pid=int(item["pid"]),
        start_ticks=int(item["start_ticks"]),
        argv=tuple(str(a) for a in argv),
        log=str(item.get("log", "")),
        boot=str(item.get("boot", "")),
    )


def _upgrade(item: dict[str, Any]) -> dict[str, Any]:
    """Read a record written before start ticks were kept (it had a wall-clock create_time)."""
    if "create_time" not in item:
        return item
    item = dict(item)
    created = float(item.pop("create_time"))
    pid = int(item["pid"])
    try:
        proc = psutil.Process(pid)
        same = abs(proc.create_time() - created) < 2.0 and proc.cmdline() == item["cmdline"]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        same = False
    item["start_ticks"] = (start_ticks(pid) or -1) if same else -1
    return item


def _unreadable(path: Path, what: str, exc: Exception) -> UserError:
    return UserError(
        f"{path}: unreadable {what} ({exc}); remove it by hand "
        "after checking that no servegate process is running"
    )


class ProcessTable:
    """The recorded processes under one directory: ``pids/<name>.pid`` and ``logs/<name>.log``.

    One file per process, written atomically, so two servegate processes can start and stop
    different names at once. ``keep_argv=False`` records no command line: some node processes
    retitle themselves (redis-server rewrites its own), so PID and start ticks identify them.
    Files of older versions are read: a ``procs.json`` list (the control plane's) and pid
    files holding ``<pid> <start ticks>`` (the node's).
    """

    def __init__(self, root: Path, *, keep_argv: bool = True) -> None:
        self.root = root
        self.pid_dir = root / "pids"
        self.log_dir = root / "logs"
        self.legacy = root / "procs.json"
        self.keep_argv = keep_argv

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _read(self, path: Path) -> ProcRecord | None:
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return None  # stopped by someone else meanwhile
        try:
            if text.lstrip().startswith("{"):
                return _record(json.loads(text))
            pid, ticks = text.split()
            return ProcRecord(path.stem, int(pid), int(ticks), log=str(self.log_path(path.stem)))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _unreadable(path, "process record", exc) from None

    def _read_legacy(self) -> list[ProcRecord]:
        if not self.legacy.exists():
            return []
        try:
            return [_record(_upgrade(item)) for item in json.loads(self.legacy.read_text("utf-8"))]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _unreadable(self.legacy, "process table", exc) from None

    def records(self) -> list[ProcRecord]:
        """Every record, in start order; an unreadable file is an error naming it."""
        found = {}
        if self.pid_dir.is_dir():
            for path in sorted(self.pid_dir.glob("*.pid")):
                rec = self._read(path)
                if rec is not None:
                    found[rec.name] = rec
        for rec in self._read_legacy():
            found.setdefault(rec.name, rec)
        return sorted(found.values(), key=lambda r: (r.start_ticks, r.pid))

    def get(self, name: str) -> ProcRecord | None:
        return next((r for r in self.records() if r.name == name), None)

    def _write(self, rec: ProcRecord) -> None:
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        path = self.pid_dir / f"{rec.name}.pid"
        tmp = path.with_suffix(".tmp")
        doc = {
            "name": rec.name,
            "pid": rec.pid,
            "start_ticks": rec.start_ticks,
            "argv": list(rec.argv),
            "log": rec.log,
            "boot": rec.boot,
        }
        tmp.write_text(json.dumps(doc) + "\n", "utf-8")
        tmp.replace(path)

    def _migrate(self) -> None:
        """Before a change, move the records of an old ``procs.json`` into pid files."""
        legacy = self._read_legacy()
        for rec in legacy:
            if not (self.pid_dir / f"{rec.name}.pid").exists():
                self._write(rec)
        if legacy or self.legacy.exists():
            self.legacy.unlink(missing_ok=True)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        nice: int = 0,
    ) -> ProcRecord:
        """Start ``argv`` (see :func:`launch`) with ``env`` added to ours, and record it."""
        self._migrate()
        current = self.get(name)
        if current is not None and owned(current):
            raise UserError(f"process {name} already running (pid {current.pid})")
        log = self.log_path(name)
        child = launch(name, argv, log, {**os.environ, **(env or {})}, cwd, nice)
        DAEMONS[child.pid] = child
        # Our unreaped child: its /proc entry stays until we wait for it, even if it exited.
        rec = record_of(name, child.pid, argv if self.keep_argv else (), str(log))
        if rec is None:
            raise UserError(f"cannot start {name}: pid {child.pid} vanished at once")
        self._write(rec)
        return rec

    def alive(self, name: str) -> bool:
        """True while the recorded process ``name`` runs and is ours."""
        rec = self.get(name)
        return rec is not None and exited(rec) is None

    def require(self, name: str) -> None:
        """A one-line error if the recorded process ``name`` has exited (naming its log)."""
        if not self.alive(name):
            raise UserError(f"{name} exited; see {self.log_path(name)}")

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """Stop the recorded process ``name`` (see :func:`stop`) and forget it."""
        self._migrate()
        rec = self.get(name)
        if rec is not None:
            stop(rec, timeout)
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)

    def stop_all(self, timeout: float = 10.0) -> list[str]:
        """Stop every recorded process, in reverse start order; return the names stopped.

        Anything still ours afterwards (SIGKILL did not take) stays recorded, so it can be
        retried.
        """
        self._migrate()
        records = self.records()
        stopped = stop_all(list(reversed(records)), timeout)
        for rec in records:
            if not owned(rec):
                (self.pid_dir / f"{rec.name}.pid").unlink(missing_ok=True)
        return stopped
