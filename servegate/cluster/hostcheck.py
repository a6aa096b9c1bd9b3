"""A snapshot of what a cluster can leave behind on the host, to prove ``down`` left nothing.

Compares mounts, network namespaces, interfaces, iptables rules and processes that mention
a directory; tests and benchmarks diff a snapshot taken before ``up`` with one after ``down``.
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
