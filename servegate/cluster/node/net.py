"""Host networking of the node: the pod bridge, a forwarding guard, sysctls and teardown.

Pods must reach each other, Service IPs and the node's bridge address, and nothing else.
The bridge is created up front with the gateway address so CoreDNS and the kubelet can bind
to it and the host reaches Service IPs through it (source = bridge address, no masquerade).
A FORWARD guard drops anything a pod sends that is not for the pod network, whatever other
rules kube-proxy adds. Every change is undone by :func:`teardown`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from servegate.cluster.node.layout import BRIDGE, NodeSpec
from servegate.errors import UserError

GUARD = "SERVEGATE-FWD"
SYSCTLS_FILE = "sysctls.json"
"""Saved host sysctls; its presence also marks the node that owns the host network."""
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}
"""Needed for pod -> Service -> pod (routed via the bridge address, un-NATed on the bridge)."""


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise UserError(f"{' '.join(cmd)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def link_exists(name: str) -> bool:
    return _run("ip", "link", "show", "dev", name, check=False).returncode == 0


def save_sysctls(path: Path) -> None:
    """Remember the host's values before changing them (only on the first ``up``)."""
    if path.exists():
        return
    saved = {}
    for key in SYSCTLS:
        f = Path("/proc/sys") / key
        if not f.exists():
            raise UserError(f"{f} missing: load the br_netfilter kernel module")
        saved[key] = f.read_text().strip()
    path.write_text(json.dumps(saved))


def apply_sysctls() -> None:
    for key, value in SYSCTLS.items():
        (Path("/proc/sys") / key).write_text(value)


def restore_sysctls(path: Path) -> None:
    if not path.exists():
        return
    for key, value in json.loads(path.read_text()).items():
        (Path("/proc/sys") / key).write_text(value)
    path.unlink()


def guard_rules(spec: NodeSpec) -> list[list[str]]:
    """Rules of the FORWARD guard chain (see module docstring)."""
    return [
        ["-d", spec.pod_cidr, "-o", BRIDGE, "-j", "ACCEPT"],
        ["-j", "DROP"],
    ]


def setup(spec: NodeSpec, state: Path) -> None:
    """Create the bridge and its address, the Service route and the FORWARD guard."""
    save_sysctls(state / SYSCTLS_FILE)
    prefix = spec.pod_cidr.split("/")[1]
    if not link_exists(BRIDGE):
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
    addrs = _run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    if f" {spec.gateway}/" not in addrs:
        _run("ip", "addr", "add", f"{spec.gateway}/{prefix}", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    _run("ip", "route", "replace", spec.service_cidr, "dev", BRIDGE, "src", spec.gateway)
    if _run("iptables", "-w", "-n", "-L", GUARD, check=False).returncode != 0:
        _run("iptables", "-w", "-N", GUARD)
    _run("iptables", "-w", "-F", GUARD)
    for rule in guard_rules(spec):
        _run("iptables", "-w", "-A", GUARD, *rule)
    jump = ["FORWARD", "-i", BRIDGE, "-j", GUARD]
    if _run("iptables", "-w", "-C", *jump, check=False).returncode != 0:
        _run("iptables", "-w", "-I", *jump)
    apply_sysctls()


def kube_chains() -> dict[str, list[str]]:
    """KUBE-* and our guard chains per table, for both iptables and ip6tables."""
    found: dict[str, list[str]] = {}
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            out = _run(tool, "-w", "-t", table, "-S", check=False).stdout
            chains = [
                line.split()[1]
                for line in out.splitlines()
                if line.startswith("-N ") and line.split()[1].startswith(("KUBE-", GUARD))
            ]
            if chains:
                found[f"{tool}/{table}"] = chains
    return found


def flush_chains() -> None:
    """Remove every jump to, and then every, KUBE-* and guard chain (kubelet leaves some)."""
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            rules = _run(tool, "-w", "-t", table, "-S", check=False).stdout.splitlines()
            ours = [r.split()[1] for r in rules if r.startswith("-N ")]
            ours = [c for c in ours if c.startswith(("KUBE-", GUARD))]
            for rule in rules:
                parts = shlex.split(rule)  # comments are quoted and contain spaces
                if parts[0] == "-A" and parts[1] not in ours and any(p in ours for p in parts[2:]):
                    _run(tool, "-w", "-t", table, "-D", *parts[1:], check=False)
            for chain in ours:
                _run(tool, "-w", "-t", table, "-F", chain, check=False)
            for chain in ours:
                _run(tool, "-w", "-t", table, "-X", chain, check=False)


def bridge_ports() -> list[str]:
    """Interfaces (pod veths) still attached to our bridge."""
    out = _run("ip", "-o", "link", "show", "master", BRIDGE, check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def teardown(state: Path) -> None:
    """Delete pod veths and the bridge, the chains, and restore the sysctls."""
    for port in bridge_ports():
        _run("ip", "link", "del", port, check=False)
    if link_exists(BRIDGE):
        _run("ip", "link", "del", BRIDGE, check=False)
    flush_chains()
    restore_sysctls(state / SYSCTLS_FILE)
