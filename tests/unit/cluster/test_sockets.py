"""Classifying the local cluster's listening sockets: loopback, the node's bridge, or every
address (allowed only behind servegate's loopback-only DROP rule), else exposed."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections import namedtuple
from pathlib import Path
from typing import Any

import psutil
import pytest

from servegate.cluster import sockets
from servegate.cluster.addons import hostguard

BRIDGE = "10.244.0.1"


@pytest.mark.parametrize(
    ("address", "port", "proto", "want"),
    [
        ("127.0.0.1", 16443, "tcp", sockets.LOOPBACK),
        ("127.0.0.53", 53, "udp", sockets.LOOPBACK),
        ("::1", 8080, "tcp6", sockets.LOOPBACK),
        ("::ffff:127.0.0.1", 8080, "tcp6", sockets.LOOPBACK),
        (BRIDGE, 10250, "tcp", sockets.BRIDGE),
        (BRIDGE, 53, "udp", sockets.BRIDGE),
        ("0.0.0.0", 9022, "tcp", sockets.GUARDED),
        ("::", 9022, "tcp6", sockets.GUARDED),
        ("0.0.0.0", 9023, "tcp", sockets.EXPOSED),  # no guard for this port
        ("0.0.0.0", 9022, "udp", sockets.EXPOSED),  # the guard drops TCP only
        ("10.244.0.7", 8000, "tcp", sockets.EXPOSED),  # not the host's bridge address
        ("192.168.1.5", 22, "tcp", sockets.EXPOSED),
    ],
)
def test_scope(address: str, port: int, proto: str, want: str) -> None:
    assert sockets.scope(address, port, proto, BRIDGE, {9022}) == want


Addr = namedtuple("Addr", "ip port")
Conn = namedtuple("Conn", "fd family type laddr raddr status pid")


def test_listeners_are_the_cluster_processes_listening_sockets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tcp, udp, v4, v6 = socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.AF_INET, socket.AF_INET6
    conns = [
        Conn(3, v4, tcp, Addr("127.0.0.1", 16443), (), psutil.CONN_LISTEN, 10),
        Conn(4, v4, tcp, Addr("127.0.0.1", 40000), Addr("127.0.0.1", 16443), "ESTABLISHED", 10),
        Conn(5, v4, udp, Addr(BRIDGE, 53), (), psutil.CONN_NONE, 11),
        Conn(6, v4, udp, Addr(BRIDGE, 41000), Addr("10.96.0.1", 443), psutil.CONN_NONE, 11),
        Conn(7, v6, tcp, Addr("::", 9022), (), psutil.CONN_LISTEN, 12),
        Conn(8, v4, tcp, Addr("0.0.0.0", 22), (), psutil.CONN_LISTEN, 99),  # not ours
    ]
    monkeypatch.setattr(psutil, "net_connections", lambda kind: conns)
    names = {10: "kube-apiserver", 11: "coredns", 12: "keda-adapter"}
    monkeypatch.setattr(sockets, "cluster_processes", lambda _state: names)
    monkeypatch.setattr(hostguard, "guarded_everywhere", lambda: [9022])
    rows = sockets.listeners(tmp_path, BRIDGE)
    assert [(r.process, r.proto, r.address, r.port, r.scope) for r in rows] == [
        ("coredns", "udp", BRIDGE, 53, sockets.BRIDGE),
        ("keda-adapter", "tcp6", "::", 9022, sockets.GUARDED),
        ("kube-apiserver", "tcp", "127.0.0.1", 16443, sockets.LOOPBACK),
    ]
    assert all(r.private for r in rows)
    text = sockets.table(rows)
    assert text.splitlines()[2] == f"| coredns | udp | {BRIDGE} | 53 | bridge |"


def test_a_port_counts_as_guarded_only_with_both_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    v4 = (
        "-P INPUT ACCEPT\n"
        "-A INPUT ! -i lo -p tcp -m tcp --dport 9022 -m comment --comment "
        "servegate-keda-loopback-only -j DROP\n"
        "-A INPUT ! -i lo -p tcp -m tcp --dport 18482 -m comment --comment "
        "servegate-kserve-loopback-only -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 7000 -m comment --comment "
        "servegate-x-loopback-only -j ACCEPT\n"
    )
    v6 = v4.replace("--dport 18482", "--dport 18483")

    def run(cmd: list[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 0, v4 if cmd[0] == "iptables" else v6, "")

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(shutil, "which", lambda tool: f"/usr/sbin/{tool}")
    assert hostguard.guarded_everywhere() == [9022]
