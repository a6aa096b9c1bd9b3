"""The listening sockets of a running local cluster, and whether each stays on this host.

A socket counts when a process of the cluster holds it: a process recorded in the control
plane's or the node's process table (add-ons included), or a descendant of one. Listening
means a TCP socket in LISTEN, or a UDP socket bound without a peer. Pods' sockets live in
their own network namespaces and are not in the host's tables at all.

Each listener is on loopback, on the node's bridge address (reachable from this host and the
cluster's pods only: the bridge has no uplink and pods no default route), or on every
address. The last is allowed only for a TCP port that servegate.cluster.addons.hostguard
keeps loopback-only with an iptables DROP for every other interface (two upstream programs
offer no flag for their listen address); anything else is reported as exposed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import psutil

from servegate.cluster.addons import hostguard
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.cluster.node.layout import NodeSpec
from servegate.procs import ProcessTable, owned

LOOPBACK = "loopback"
BRIDGE = "bridge"
GUARDED = "all addresses, loopback-only by iptables"
EXPOSED = "EXPOSED"


@dataclass(frozen=True)
class Listener:
    process: str
    pid: int
    proto: str  # tcp, tcp6, udp, udp6
    address: str
    port: int
    scope: str

    @property
    def private(self) -> bool:
        return self.scope != EXPOSED


def cluster_processes(state: Path) -> dict[int, str]:
    """PID -> name of every live process of the cluster whose state directory is ``state``
    (recorded processes, then their descendants as ``<parent>/<program>``)."""
    found: dict[int, str] = {}
    for table in (ProcessTable(state), NodeLayout(state / "node").processes()):
        for rec in table.records():
            if owned(rec):
                found[rec.pid] = rec.name
    for pid, name in list(found.items()):
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            try:
                found.setdefault(child.pid, f"{name}/{child.name()}")
            except psutil.Error:
                continue
    return found


def scope(address: str, port: int, proto: str, bridge_ip: str, guarded: set[int]) -> str:
    """Where a listener on ``address:port`` can be reached from."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return LOOPBACK
    if str(ip) == bridge_ip:
        return BRIDGE
    if ip.is_unspecified and proto.startswith("tcp") and port in guarded:
        return GUARDED
    return EXPOSED


def _proto(family: int, kind: int) -> str:
    import socket

    base = "tcp" if kind == socket.SOCK_STREAM else "udp"
    return base + ("6" if family == socket.AF_INET6 else "")


def listeners(state: Path, bridge_ip: str | None = None) -> list[Listener]:
    """Every listening socket of the cluster's processes, sorted by process and port."""
    procs = cluster_processes(state)
    bridge = bridge_ip or NodeSpec().gateway
    guarded = set(hostguard.guarded_everywhere())
    out = set()
    for conn in psutil.net_connections(kind="inet"):
        if conn.pid not in procs or not conn.laddr:
            continue
        proto = _proto(conn.family, conn.type)
        listening = conn.status == psutil.CONN_LISTEN if proto.startswith("tcp") else not conn.raddr
        if not listening:
            continue
        address, port = conn.laddr.ip, conn.laddr.port
        where = scope(address, port, proto, bridge, guarded)
        out.add(Listener(procs[conn.pid], conn.pid, proto, address, port, where))
    return sorted(out, key=lambda r: (r.process, r.port, r.proto, r.address))


def table(rows: list[Listener]) -> str:
    """A Markdown table (what docs/cluster-security.md shows)."""
    lines = [
        "| process | protocol | address | port | reachable from |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r.process} | {r.proto} | {r.address} | {r.port} | {r.scope} |")
    return "\n".join(lines)
