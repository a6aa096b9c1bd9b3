"""Host networking of the node: the pod bridge, a forwarding guard, sysctls and teardown.

Pods must reach each other, Service IPs and the node's bridge address, and nothing else.
The bridge is created up front with the gateway address so CoreDNS and the kubelet can bind
to it and the host reaches Service IPs through it (source = bridge address, no masquerade).
A FORWARD guard drops anything a pod sends that is not for the pod network, whatever other
rules kube-proxy adds. Every change is undone by :func:`teardown`, and only those changes:
an iptables chain is removed only if one of this cluster's components makes chains of that
name (kube-proxy, the kubelet, kube-router, our guard) and it was not on the host before the
node's first ``up`` (:data:`BASELINE_FILE`); of the rules outside those chains, only the jumps
from the built-in chains to them go. A chain of anything else (Docker, another tool's
``KUBE-*``) is left as it is.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
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
    record_baseline(state)
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


TOOLS = ("iptables", "ip6tables")
TABLES = ("filter", "nat", "mangle")
BUILTIN = frozenset({"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"})
BASELINE_FILE = "host-before.json"
"""Chains of our components' names (and ipsets) already on the host at the first ``up``:
someone else's, never removed. Kept after ``down`` so the leftover check can read it."""

NODE_CHAINS = frozenset(
    {
        # kube-proxy, iptables mode (pkg/proxy/iptables)
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
        "KUBE-FORWARD",
        "KUBE-PROXY-FIREWALL",
        "KUBE-PROXY-CANARY",
        # the kubelet (pkg/kubelet/kubelet_network_linux.go)
        "KUBE-FIREWALL",
        "KUBE-IPTABLES-HINT",
        "KUBE-KUBELET-CANARY",
        GUARD,
    }
)
"""Fixed names of the chains the node's own processes make: a second node would share them."""
_HASHED = re.compile(r"^KUBE-(SVC|SVL|FW|EXT|SEP)-[A-Z0-9]{16}$")
"""kube-proxy's per-Service and per-endpoint chains."""
KUBE_ROUTER_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
"""The network-policy add-on's (kube-router's firewall) chains."""


def cluster_chain(name: str) -> bool:
    """True if one of this cluster's components makes chains called ``name``."""
    return (
        name in NODE_CHAINS
        or _HASHED.match(name) is not None
        or name.startswith(KUBE_ROUTER_PREFIXES)
    )


def _save(tool: str, table: str) -> list[str]:
    """``tool -S`` of one table ([] without the tool or the table)."""
    if shutil.which(tool) is None:
        return []
    return _run(tool, "-w", "-t", table, "-S", check=False).stdout.splitlines()


def chains_of(rules: list[str]) -> list[str]:
    """The user chains that ``-S`` output declares."""
    return [line.split()[1] for line in rules if line.startswith("-N ")]


def _target(parts: list[str]) -> str | None:
    for flag in ("-j", "-g"):
        if flag in parts[:-1]:
            return parts[parts.index(flag) + 1]
    return None


def owned_chains(rules: list[str], foreign: frozenset[str] = frozenset()) -> list[str]:
    """Chains in ``-S`` output ``rules`` that this cluster made (see module docstring)."""
    return [c for c in chains_of(rules) if cluster_chain(c) and c not in foreign]


def removal(rules: list[str], ours: list[str]) -> list[list[str]]:
    """The iptables arguments (after ``-t TABLE``) that remove chains ``ours`` of one table
    whose ``-S`` output is ``rules``: the built-in chains' jumps to them, then flush, then
    delete. Rules of other chains are not touched (a foreign chain jumping to one of ours
    keeps it: the leftover check reports it)."""
    out: list[list[str]] = []
    for rule in rules:
        parts = shlex.split(rule)  # comments are quoted and contain spaces
        if parts[:1] == ["-A"] and parts[1] in BUILTIN and _target(parts) in ours:
            out.append(["-D", *parts[1:]])
    out += [["-F", chain] for chain in ours]
    out += [["-X", chain] for chain in ours]
    return out


def ipsets() -> list[str]:
    if shutil.which("ipset") is None:
        return []
    return _run("ipset", "list", "-n", check=False).stdout.split()


def record_baseline(state: Path) -> None:
    """Remember which chains of our components' names, and which ipsets, exist before the
    node sets up the host network (kept while it owns it: a second ``up`` finds its own)."""
    path = state / BASELINE_FILE
    if path.exists() and (state / SYSCTLS_FILE).exists():
        return
    found: dict[str, list[str]] = {
        f"{tool}/{table}": [c for c in chains_of(_save(tool, table)) if cluster_chain(c)]
        for tool in TOOLS
        for table in TABLES
    }
    found["ipset"] = ipsets()
    path.write_text(json.dumps(found, indent=1) + "\n")


def foreign(state: Path | None) -> dict[str, frozenset[str]]:
    """The baseline: per ``tool/table`` (and ``ipset``), names that are not ours."""
    path = None if state is None else state / BASELINE_FILE
    if path is None or not path.exists():
        return {}
    raw = json.loads(path.read_text())
    return {str(k): frozenset(str(n) for n in v) for k, v in raw.items()}


def conflicting_chains() -> list[str]:
    """Chains of the node's fixed names on the host: another kube-proxy or kubelet runs."""
    return [
        f"{tool}/{table} {c}"
        for tool in TOOLS
        for table in TABLES
        for c in chains_of(_save(tool, table))
        if c in NODE_CHAINS
    ]


def kube_chains(state: Path | None = None) -> dict[str, list[str]]:
    """This cluster's chains per ``tool/table`` (those in the baseline excepted)."""
    before = foreign(state)
    found: dict[str, list[str]] = {}
    for tool in TOOLS:
        for table in TABLES:
            where = f"{tool}/{table}"
            chains = owned_chains(_save(tool, table), before.get(where, frozenset()))
            if chains:
                found[where] = chains
    return found


def flush_chains(state: Path | None = None) -> None:
    """Remove this cluster's chains and the jumps to them (the kubelet leaves some)."""
    before = foreign(state)
    for tool in TOOLS:
        for table in TABLES:
            rules = _save(tool, table)
            ours = owned_chains(rules, before.get(f"{tool}/{table}", frozenset()))
            for args in removal(rules, ours):
                _run(tool, "-w", "-t", table, *args, check=False)


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
    flush_chains(state)
    restore_sysctls(state / SYSCTLS_FILE)
