"""A snapshot of what a cluster can leave behind on the host, to prove ``down`` left nothing.

Compares mounts, network namespaces, interfaces, iptables rules and processes that mention
a directory; tests and benchmarks diff a snapshot taken before ``up`` with one after ``down``.
:func:`footprint` adds cgroups and files and leaves out what a Docker daemon (kind) changes,
so that a run's leftovers can be counted while the local cluster runs beside a kind cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil


def _lines(cmd: list[str]) -> frozenset[str]:
    if shutil.which(cmd[0]) is None:
        return frozenset()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return frozenset(
        line.split("[")[0].strip()  # iptables-save counters change; drop them
        for line in proc.stdout.splitlines()
        if line.strip() and not line.startswith("#")
    )


@dataclass(frozen=True)
class HostSnapshot:
    """What is there now."""

    mounts: frozenset[str]
    netns: frozenset[str]
    links: frozenset[str]
    iptables: frozenset[str]
    processes: frozenset[str]

    def leftovers(self, before: HostSnapshot) -> dict[str, list[str]]:
        """Everything present now but not in ``before``."""
        out = {}
        for name in ("mounts", "netns", "links", "iptables", "processes"):
            extra = sorted(getattr(self, name) - getattr(before, name))
            if extra:
                out[name] = extra
        return out


def snapshot(mentioning: Path) -> HostSnapshot:
    """Take a snapshot; ``processes`` are those whose command line mentions ``mentioning``."""
    mounts = frozenset(
        line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )
    netns_dir = Path("/run/netns")
    netns = frozenset(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else frozenset()
    links = frozenset(p.name for p in Path("/sys/class/net").iterdir())
    rules = _lines(["iptables-save"])
    needle = str(mentioning)
    procs = set()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if needle in cmd and proc.info["pid"] != os.getpid():
            procs.add(f"{proc.info['pid']} {cmd[:200]}")
    return HostSnapshot(mounts, netns, links, rules, frozenset(procs))


FOREIGN_LINK_PREFIXES = ("docker", "br-")
"""Bridges of a Docker daemon (kind's ``br-<id>``, ``docker0``); they and their ports are not
the local cluster's."""

CGROUP_ROOT = Path("/sys/fs/cgroup")
CNI_RESULTS = Path("/var/lib/cni/results")
CHURNING = ("etcd", "prometheus-data", "logs", "volumes")
"""Directories under a cluster's state whose contents change while it runs (etcd's WAL,
Prometheus blocks, component logs, what pods write into their volumes): counted as one entry
each, their contents left out. A pod's directory, its logs and its IP allocation still count."""


def _foreign_link(name: str) -> bool:
    if name.startswith(FOREIGN_LINK_PREFIXES):
        return True
    master = Path("/sys/class/net") / name / "master"
    return master.is_symlink() and master.resolve().name.startswith(FOREIGN_LINK_PREFIXES)


def _state_files(state: Path) -> frozenset[str]:
    found: set[str] = set()
    for root, dirs, files in os.walk(state):
        rel = Path(root).relative_to(state)
        found.update(str(rel / name) for name in (*dirs, *files))
        dirs[:] = [d for d in dirs if d not in CHURNING and not os.path.ismount(Path(root, d))]
    if CNI_RESULTS.is_dir():
        found.update(str(p) for p in CNI_RESULTS.iterdir())
    return frozenset(found)


def _cgroups() -> frozenset[str]:
    found: set[str] = set()
    if CGROUP_ROOT.is_dir():
        for hierarchy in CGROUP_ROOT.iterdir():
            top = hierarchy / "servegate"
            if top.is_dir():
                found.update(
                    str(Path(root).relative_to(CGROUP_ROOT)) for root, _d, _f in os.walk(top)
                )
    return frozenset(found)


@dataclass(frozen=True)
class Footprint:
    """What a local cluster and the runs against it hold on the host now, by kind."""

    parts: dict[str, frozenset[str]]

    def leftovers(self, before: Footprint) -> dict[str, list[str]]:
        """Everything present now but not in ``before``, by kind (empty kinds left out)."""
        out = {}
        for name, items in self.parts.items():
            extra = sorted(items - before.parts.get(name, frozenset()))
            if extra:
                out[name] = extra
        return out


FOOTPRINT_KINDS = ("processes", "mounts", "netns", "links", "iptables", "cgroups", "files")


def footprint(state: Path, docker_root: Path | None = None) -> Footprint:
    """The host as a local cluster with state directory ``state`` can change it: processes
    whose command line names ``state`` (its daemons and shims), mounts (those under
    ``docker_root``, a Docker daemon's, left out), network namespaces, interfaces (a Docker
    daemon's bridges and their ports left out), iptables and ip6tables rules, cgroups under
    ``/servegate``, and files under ``state`` and CNI's results of the cluster's network."""
    base = snapshot(state)
    mounts = base.mounts
    if docker_root is not None:
        skip = str(docker_root) + "/"
        mounts = frozenset(m for m in mounts if not (m + "/").startswith(skip))
    links = frozenset(name for name in base.links if not _foreign_link(name))
    rules = base.iptables | frozenset("ip6 " + r for r in _lines(["ip6tables-save"]))
    parts = {
        "processes": base.processes,
        "mounts": mounts,
        "netns": base.netns,
        "links": links,
        "iptables": rules,
        "cgroups": _cgroups(),
        "files": _state_files(state) if state.is_dir() else frozenset(),
    }
    return Footprint(parts)
