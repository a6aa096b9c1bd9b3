"""The Docker daemon kind talks to: one already running (used, never touched), or servegate's own.

When no daemon answers (``DOCKER_HOST``, else ``/var/run/docker.sock``), servegate starts
Debian's ``dockerd`` as its own process, with everything under
``$XDG_STATE_HOME/servegate/docker/``: ``--data-root data/`` (kept across stops, so loaded
node images survive), ``--exec-root exec/``, ``--pidfile``, the socket and its log. It is
started so that it leaves the host's networking alone and coexists with the embedded local
cluster's bridge ``sgbr0``: no iptables rules (``--iptables=false``, hence no masquerading and
no FORWARD policy change), no ``docker0`` (``--bridge=none``), ``ip_forward`` untouched
(``--ip-forward=false``). kind's own network is a bridge the daemon makes; containers on it
reach the host and each other, nothing beyond.

Before the start, the host's FORWARD policy, ``net.ipv4.ip_forward``, the kernel tunables a
kubelet inside a node may set, and which of the paths Docker creates already existed are
recorded in ``host.json``; :meth:`DockerHost.stop` stops the daemon by its recorded PID, then
puts every one of them back and removes ``docker0``, ``DOCKER*`` chains and kind's bridges.

Hosts whose capability bounding set lacks CAP_SYS_RESOURCE (some sandboxed VMs) cannot run a
privileged container: runc fails with "unable to apply caps". There the daemon's default OCI
runtime is ``images/runcwrap``, which drops the capabilities the host cannot grant before
calling runc; this is said on stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from servegate.cluster import paths
from servegate.cluster.node import gobuild
from servegate.cluster.node.layout import BRIDGE
from servegate.cluster.node.net import SYSCTLS, link_exists
from servegate.errors import UserError
from servegate.procs import ProcessTable
from servegate.wait import wait_until

CAP_SYS_RESOURCE = 24
"""linux/capability.h"""

KERNEL_TUNABLES = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
"""Host-wide sysctls a kubelet sets at start (inside a kind node too): restored at stop."""

IP_FORWARD = "net.ipv4.ip_forward"
LOCAL_NODE_SYSCTLS = tuple(key.replace("/", ".") for key in SYSCTLS)
"""The sysctls the local cluster's node sets, saves and restores itself (node/net.py)."""
CREATED_PATHS = ("/lib/modules", "/run/containerd/s", "/run/containerd", "/etc/docker")
"""Paths Docker or kind may create on the host: removed at stop if they were not there before
and are empty (kind mounts /lib/modules into nodes; Docker's containerd puts its shim
sockets under /run/containerd/s)."""

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    """Default log sink."""


def state_dir() -> Path:
    """``$XDG_STATE_HOME/servegate/docker`` (beside the clusters' state)."""
    return paths.state_root().parent / "docker"


def bounding_set(status: str | None = None) -> int:
    """This process's capability bounding set (CapBnd of /proc/self/status)."""
    text = status if status is not None else Path("/proc/self/status").read_text()
    m = re.search(r"^CapBnd:\s*([0-9a-fA-F]+)\s*$", text, re.MULTILINE)
    if m is None:
        raise UserError("/proc/self/status has no CapBnd line: cannot check capabilities")
    return int(m.group(1), 16)


def lacks_sys_resource(status: str | None = None) -> bool:
    """True on hosts where privileged containers need the runc wrapper and the node's
    containerd needs ``restrict_oom_score_adj``."""
    return not bounding_set(status) >> CAP_SYS_RESOURCE & 1


@dataclass(frozen=True)
class Endpoint:
    """How to reach a daemon: the ``DOCKER_HOST`` value and the CLI to use with it."""

    host: str
    cli: Path
    ours: bool

    def env(self) -> dict[str, str]:
        """Variables for kind and the docker CLI: the socket, and our CLI first on PATH."""
        path = os.environ.get("PATH", "")
        if self.ours:
            path = f"{self.cli.parent}{os.pathsep}{path}"
        return {"DOCKER_HOST": self.host, "PATH": path}

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this daemon; the result, whatever the exit code."""
        env = {**os.environ, **self.env()}
        return subprocess.run(
            [str(self.cli), *args], capture_output=True, text=True, env=env, timeout=timeout
        )

    def answers(self) -> bool:
        try:
            return (
                self.docker("version", "--format", "{{.Server.Version}}", timeout=10).returncode
                == 0
            )
        except subprocess.TimeoutExpired:
            return False


def sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _read_sysctl(name: str) -> str | None:
    try:
        return sysctl_path(name).read_text().strip()
    except OSError:
        return None


def _forward_policy() -> str | None:
    if shutil.which("iptables") is None:
        return None
    out = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True)
    m = re.search(r"^-P FORWARD (\S+)", out.stdout, re.MULTILINE)
    return m.group(1) if m else None


def _docker_chains() -> dict[str, list[str]]:
    """``DOCKER*`` chains per table (filter, nat)."""
    found: dict[str, list[str]] = {}
    if shutil.which("iptables") is None:
        return found
    for table in ("filter", "nat"):
        out = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True)
        found[table] = sorted(
            line.split()[1] for line in out.stdout.splitlines() if line.startswith("-N DOCKER")
        )
    return found


def _links() -> list[str]:
    return sorted(p.name for p in Path("/sys/class/net").iterdir())


def _node_records() -> list[Path]:
    """The created-directories records of the local clusters' real nodes on this host."""
    from servegate.cluster.node.node import CREATED_DIRS

    return sorted(paths.state_root().glob(f"*/node/{CREATED_DIRS}"))


def _node_created() -> set[str]:
    """Directories a local node created and will remove at its down (if empty by then)."""
    found: set[str] = set()
    for rec in _node_records():
        with contextlib.suppress(OSError, ValueError):
            found.update(str(p) for p in json.loads(rec.read_text()))
    return found


def host_state() -> dict[str, object]:
    """What a daemon could change on the host, read now."""
    node_created = _node_created()
    return {
        "forward_policy": _forward_policy(),
        "sysctls": {n: _read_sysctl(n) for n in (IP_FORWARD, *KERNEL_TUNABLES)},
        "existing_paths": [p for p in CREATED_PATHS if os.path.lexists(p)],
        "node_created": [p for p in CREATED_PATHS if p in node_created],
        "links": _links(),
        "chains": _docker_chains(),
    }


def state_to_restore() -> dict[str, object]:
    """:func:`host_state`, less the sysctls a running local node owns.

    While the local cluster's bridge is up its node has set those sysctls and saved the host's
    own values, which it puts back at its down. Recording the node's values here would have the
    daemon's stop, if it comes after that down, set them again (ip_forward left on)."""
    state = host_state()
    if link_exists(BRIDGE):
        sysctls = dict(state["sysctls"])  # type: ignore[call-overload]
        for key in LOCAL_NODE_SYSCTLS:
            sysctls[key] = None
        state["sysctls"] = sysctls
    return state


class DockerHost:
    """Find a running Docker daemon, or start and stop servegate's own."""

    def __init__(self, log: Log = _quiet, root: Path | None = None) -> None:
        self.root = root or state_dir()
        self.log = log
        self.procs = ProcessTable(self.root / "run")

    # -- where things are ---------------------------------------------------------------
    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def record(self) -> Path:
        return self.root / "host.json"

    @contextlib.contextmanager
    def in_use(self) -> Iterator[Endpoint]:
        """A daemon (see :meth:`ensure`) that :meth:`stop` leaves alone while the block runs.

        Several servegate processes may share servegate's daemon (a kind cluster each): one
        starts it at a time (exclusive lock), then each holds a shared lock until its cluster
        exists; ``stop`` proceeds only with the lock to itself and no container left."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            endpoint = self.ensure()
            fcntl.flock(fh, fcntl.LOCK_SH)
            yield endpoint

    def _ours(self) -> Endpoint:
        return Endpoint(f"unix://{self.socket}", self.root / "bin" / "docker", True)

    def running(self) -> bool:
        """servegate's dockerd is running (by its recorded PID and start time)."""
        return self.procs.alive("dockerd")

    # -- finding ------------------------------------------------------------------------
    def existing(self) -> Endpoint | None:
        """A daemon servegate did not start that answers, if any."""
        cli = shutil.which("docker")
        host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if cli is None or host == f"unix://{self.socket}":
            return None
        if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
            return None
        found = Endpoint(host, Path(cli), False)
        return found if found.answers() else None

    def endpoint(self) -> Endpoint | None:
        """The daemon kind should use now, without starting one."""
        if self.running():
            return self._ours()
        return self.existing()

    # -- starting -----------------------------------------------------------------------
    def ensure(self) -> Endpoint:
        """A daemon that answers: one already running, else servegate's own, started now."""
        found = self.endpoint()
        if found is not None:
            if not found.ours and lacks_sys_resource():
                self.log(
                    "note: this host lacks CAP_SYS_RESOURCE and the Docker daemon at "
                    f"{found.host} was not started by servegate: its privileged containers "
                    "(kind's nodes) may fail with 'unable to apply caps'"
                )
            return found
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise UserError(
                "the kind provider needs Docker: no daemon answers (DOCKER_HOST or "
                "/var/run/docker.sock) and there is no dockerd to start (apt-get install "
                "docker.io); use --sg-cluster local for the embedded cluster instead"
            )
        return self._start(Path(dockerd))

    def _cli_for(self, dockerd: Path) -> Path:
        """The docker CLI shipped beside ``dockerd`` (Debian: /usr/bin next to /usr/sbin)."""
        sibling = dockerd.resolve().parent.parent / "bin" / "docker"
        found = sibling if sibling.is_file() else shutil.which("docker")
        if found is None:
            raise UserError(f"{dockerd} has no docker CLI beside it: apt-get install docker.io")
        return Path(found)

    def argv(self, dockerd: Path, wrapper: Path | None) -> list[str]:
        """dockerd's command line: everything under our state directory, no host networking."""
        argv = [
            str(dockerd),
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host=unix://{self.socket}",
            f"--config-file={self.root / 'daemon.json'}",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--bridge=none",
        ]
        if wrapper is not None:
            argv += [f"--add-runtime=sg-runc={wrapper}", "--default-runtime=sg-runc"]
        return argv

    def _start(self, dockerd: Path) -> Endpoint:
        self.root.mkdir(parents=True, exist_ok=True)
        exec_sock = self.root / "exec" / "containerd" / "containerd.sock.ttrpc"
        if len(str(exec_sock).encode()) > 107:
            raise UserError(f"{self.root} is too long for Docker's sockets: set XDG_STATE_HOME")
        if not self.record.exists():  # after a crash, keep the first, true record
            self.record.write_text(json.dumps(state_to_restore(), indent=1))
        # The trust key dockerd 20.10 would otherwise write to /etc/docker/key.json.
        (self.root / "daemon.json").write_text(
            json.dumps({"deprecated-key-path": str(self.root / "key.json")})
        )
        bindir = self.root / "bin"
        bindir.mkdir(exist_ok=True)
        link = bindir / "docker"
        link.unlink(missing_ok=True)
        link.symlink_to(self._cli_for(dockerd))
        wrapper, env = None, {}
        if lacks_sys_resource():
            wrapper = gobuild.build("runcwrap")
            runc = shutil.which("runc")
            if runc is None:
                raise UserError("runc not found: apt-get install runc")
            env["SERVEGATE_RUNC"] = runc
            self.log(
                "note: this host's capability bounding set lacks CAP_SYS_RESOURCE: dockerd "
                "runs containers through servegate's runc wrapper (images/runcwrap), which "
                "drops the capabilities the host cannot grant"
            )
        self.log(f"starting dockerd ({dockerd}) with its state in {self.root}")
        self.procs.start("dockerd", self.argv(dockerd, wrapper), env=env)
        ours = self._ours()

        def up() -> bool:
            self.procs.require("dockerd")
            return self.socket.exists() and ours.answers()

        try:
            if not wait_until(up, 60, interval_s=0.3):
                raise UserError(
                    f"dockerd did not answer within 60s; see {self.procs.log_path('dockerd')}"
                )
        except UserError:
            self._stop(force=True)  # the caller holds the lock
            raise
        return ours

    # -- stopping -----------------------------------------------------------------------
    def containers(self) -> list[str]:
        """Names of the containers servegate's daemon holds (running or not)."""
        if not self.running():
            return []
        out = self._ours().docker("ps", "-a", "--format", "{{.Names}}")
        return [n for n in out.stdout.split() if n]

    def stop(self, force: bool = False) -> list[str]:
        """Stop servegate's dockerd unless it still holds containers (``force``: regardless);
        then put the host back as ``host.json`` recorded it. What was done, as lines."""
        lock = self.root / "lock"
        if not lock.exists():
            return self._stop(force)
        with lock.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if force else fcntl.LOCK_NB))
            except BlockingIOError:
                return ["dockerd left running: another servegate process is using it"]
            return self._stop(force)

    def _stop(self, force: bool) -> list[str]:
        done: list[str] = []
        if self.running():
            left = self.containers()
            if left and not force:
                return [f"dockerd left running: it holds {', '.join(left)}"]
            ours = self._ours()
            nets = ours.docker("network", "ls", "--filter", "type=custom", "-q").stdout.split()
            if nets:
                ours.docker("network", "rm", *nets)
            self.procs.stop("dockerd", timeout=30)
            done.append("stopped dockerd")
        elif self.procs.get("dockerd") is not None:
            self.procs.stop("dockerd")  # forget a record of a process that is gone
        done += self._unmount_and_clean()
        done += self.restore_host()
        return done

    def _unmount_and_clean(self) -> list[str]:
        """Unmount anything left under our state directory; remove the run-time files."""
        done = []
        prefix = str(self.root) + "/"
        mounts = [
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if (line.split()[4] + "/").startswith(prefix)
        ]
        for mnt in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mnt], capture_output=True)
            done.append(f"unmounted {mnt}")
        shutil.rmtree(self.root / "exec", ignore_errors=True)
        for f in ("docker.sock", "dockerd.pid"):
            (self.root / f).unlink(missing_ok=True)
        return done

    def restore_host(self) -> list[str]:
        """Undo what the daemon (or a kubelet in a node) changed, as ``host.json`` recorded."""
        if not self.record.exists():
            return []
        before = json.loads(self.record.read_text())
        done = []
        if link_exists(BRIDGE):
            # A local cluster's real node runs: it set ip_forward and its kubelet's tunables
            # itself, and puts them back at its own down; changing them now would cut it off.
            done.append(f"FORWARD policy and sysctls left to the local cluster ({BRIDGE} is up)")
        else:
            policy = before.get("forward_policy")
            if policy and _forward_policy() not in (None, policy):
                subprocess.run(["iptables", "-w", "-P", "FORWARD", policy], check=False)
                done.append(f"FORWARD policy back to {policy}")
            for name, value in (before.get("sysctls") or {}).items():
                if value is not None and _read_sysctl(name) not in (None, value):
                    sysctl_path(name).write_text(value)
                    done.append(f"{name} back to {value}")
        links_before = set(before.get("links") or [])
        for link in _links():
            if link not in links_before and re.fullmatch(r"docker0|br-[0-9a-f]{12}", link):
                subprocess.run(["ip", "link", "delete", link], capture_output=True)
                done.append(f"deleted link {link}")
        chains_before = before.get("chains") or {}
        for table, chains in _docker_chains().items():
            for chain in chains:
                if chain not in chains_before.get(table, []):
                    for flag in ("-F", "-X"):
                        subprocess.run(
                            ["iptables", "-w", "-t", table, flag, chain], capture_output=True
                        )
                    done.append(f"deleted chain {table}/{chain}")
        done += _remove_created(before)
        self.record.unlink()
        return done

    def leftovers(self) -> list[str]:
        """What servegate's daemon left on the host (empty after a clean stop)."""
        found = []
        if self.running():
            found.append("dockerd is running")
        if self.record.exists():
            found.append(f"{self.record} (host state not restored yet)")
        if (self.root / "exec").exists():
            found.append(f"{self.root / 'exec'}")
        if "docker0" in _links():
            found.append("link docker0")
        return found

    @contextlib.contextmanager
    def environment(self, endpoint: Endpoint) -> Iterator[None]:
        """``os.environ`` set for ``endpoint`` while kind (through pytest-kind) runs."""
        saved = {k: os.environ.get(k) for k in ("DOCKER_HOST", "PATH")}
        os.environ.update(endpoint.env())
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _strings(doc: dict[str, object], key: str) -> set[str]:
    value = doc.get(key)
    return {str(v) for v in value} if isinstance(value, list) else set()


def _remove_created(before: dict[str, object]) -> list[str]:
    """Remove, if empty, the directories this daemon's run created, and those a local node
    created and could not remove at its down because our shims were inside. Ours that a
    running local node now uses are handed over: its down removes them."""
    existing, node_before = _strings(before, "existing_paths"), _strings(before, "node_created")
    node_now = _node_created()
    ours = [p for p in CREATED_PATHS if p not in existing]
    orphaned = [p for p in node_before if p not in node_now]
    done = []
    for p in CREATED_PATHS:  # children before parents
        if (p in ours or p in orphaned) and os.path.isdir(p):
            with contextlib.suppress(OSError):
                os.rmdir(p)  # only if empty
                done.append(f"removed {p}")
    still = [p for p in ours if os.path.isdir(p) and p not in node_now]
    from servegate.cluster.node.net import SYSCTLS_FILE

    for rec in _node_records():
        if still and (rec.parent / SYSCTLS_FILE).exists():  # a running node's record
            have = json.loads(rec.read_text())
            rec.write_text(json.dumps(sorted({*have, *still}, key=len, reverse=True)))
            done.append(f"{', '.join(still)} left to the local node in {rec.parent}")
            break
    return done
