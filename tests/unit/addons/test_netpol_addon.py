"""The network-policy add-on: how kube-router is started, and what teardown removes."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from servegate.cluster.addons import load, netpol, stop_all
from servegate.cluster.addons.base import Addon, AddonContext, Credentials
from servegate.cluster.node.layout import Layout, NodeSpec
from servegate.errors import UserError


def test_registered_and_satisfies_the_protocol() -> None:
    assert isinstance(netpol.ADDON, Addon)
    assert load("network-policy") is netpol.ADDON
    assert netpol.ADDON.processes == (netpol.PROCESS,)


def test_runs_the_firewall_only_and_listens_nowhere() -> None:
    argv = netpol.argv(
        "/bin/kr", Path("/state/kube-router.kubeconfig"), "servegate-node-0", NodeSpec()
    )
    assert argv[0] == "/bin/kr"
    flags = dict(a.removeprefix("--").split("=", 1) for a in argv[1:])
    assert flags["run-firewall"] == "true"
    assert flags["run-router"] == flags["run-service-proxy"] == flags["run-loadbalancer"] == "false"
    assert flags["health-port"] == flags["metrics-port"] == "0"  # they would bind every address
    assert flags["hostname-override"] == "servegate-node-0"
    assert flags["service-cluster-ip-range"] == NodeSpec().service_cidr
    assert flags["kubeconfig"] == "/state/kube-router.kubeconfig"


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        ("KUBE-SRC-ABCDEFGHIJKLMNOP", True),
        ("KUBE-DST-ABCDEFGHIJKLMNOP", True),
        ("inet6:KUBE-DST-ABCDEFGHIJKLMNOP", True),
        ("TMP-ABCDEFGHIJKLMN23", True),
        ("TMP-lowercase", False),
        ("KUBE-CLUSTER-IP", False),  # kube-proxy's ipvs set, not kube-router's firewall
        ("my-set", False),
    ],
)
def test_only_kube_router_firewall_sets_are_claimed(name: str, ours: bool) -> None:
    assert bool(netpol._SET.match(name)) is ours


@dataclass
class FakeIptables:
    """iptables -S output, and the commands teardown ran against it."""

    rules: list[str]
    ran: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        self.ran.append(cmd)
        out = "\n".join(self.rules) if "-S" in cmd else ""
        return subprocess.CompletedProcess(list(cmd), 0, out, "")


def test_teardown_removes_jumps_then_chains_and_leaves_others(monkeypatch: Any) -> None:
    fake = FakeIptables(
        [
            "-P FORWARD ACCEPT",
            "-N KUBE-FORWARD",
            "-N KUBE-ROUTER-FORWARD",
            "-N KUBE-POD-FW-ABCDEFGHIJKLMNOP",
            '-A FORWARD -m comment --comment "kube-router netpol - X" -j KUBE-ROUTER-FORWARD',
            '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
            "-A KUBE-ROUTER-FORWARD -d 10.244.0.5/32 -j KUBE-POD-FW-ABCDEFGHIJKLMNOP",
        ]
    )
    monkeypatch.setattr(netpol, "_run", fake)
    netpol._remove_chains("iptables", frozenset())
    deletes = [c for c in fake.ran if "-D" in c]
    assert deletes == [
        (
            "iptables",
            "-w",
            "-t",
            "filter",
            "-D",
            "FORWARD",
            "-m",
            "comment",
            "--comment",
            "kube-router netpol - X",
            "-j",
            "KUBE-ROUTER-FORWARD",
        )
    ]
    flushed = [c[-1] for c in fake.ran if "-F" in c]
    removed = [c[-1] for c in fake.ran if "-X" in c]
    assert flushed == removed == ["KUBE-ROUTER-FORWARD", "KUBE-POD-FW-ABCDEFGHIJKLMNOP"]
    assert "KUBE-FORWARD" not in removed  # kube-proxy's chain is not ours


def test_teardown_reports_what_it_could_not_remove(monkeypatch: Any) -> None:
    monkeypatch.setattr(netpol, "_remove_chains", lambda tool, keep: None)
    monkeypatch.setattr(netpol, "our_sets", lambda keep: [])
    monkeypatch.setattr(netpol, "leftovers", lambda _s: ["iptables chain KUBE-ROUTER-INPUT"])
    with pytest.raises(UserError, match="teardown left iptables chain KUBE-ROUTER-INPUT"):
        netpol.teardown_host()


def test_missing_host_tools_are_named_with_the_packages(monkeypatch: Any) -> None:
    monkeypatch.setattr(netpol, "missing_tools", lambda: ["ipset"])
    with pytest.raises(UserError, match="needs ipset on the host: apt-get install iptables ipset"):
        netpol.ADDON.build(lambda _m: None)


def test_enforcement_is_judged_by_traffic_not_objects() -> None:
    assert netpol.ADDON.check_existing(object()) is None


@dataclass
class FakeSup:
    started: list[list[str]] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> None:
        self.started.append([name, *argv])

    def records(self) -> list[Any]:
        return []


def test_start_cleans_first_and_leaves_a_mark_so_down_tears_it_down(
    tmp_path: Path, monkeypatch: Any
) -> None:
    events: list[str] = []
    monkeypatch.setattr(netpol, "addon_binary", lambda *_a: Path("/cache/kube-router"))
    monkeypatch.setattr(netpol, "real_node_name", lambda _ctx: "node-0")
    monkeypatch.setattr(netpol, "teardown_host", lambda _s: events.append(f"teardown {_s}"))
    monkeypatch.setattr(
        AddonContext, "identity", lambda _self, c: Credentials(c, Path(f"/{c}.kc"), Path(), Path())
    )
    node, sup = Layout(tmp_path / "node"), FakeSup()
    ctx = AddonContext(
        cluster="t", state_dir=tmp_path, node=node, sup=sup,  # type: ignore[arg-type]
        api=None,  # type: ignore[arg-type]  # replaced by the real_node_name fake
        apiserver_url="https://127.0.0.1:1", ca=tmp_path / "ca.crt",
        front_proxy_ca=tmp_path / "fp.crt",
        prometheus_url="http://127.0.0.1:1",
    )  # fmt: skip
    netpol.ADDON.start(ctx, lambda _m: None)
    # A crashed run's rules are gone before the new start (never what the node found).
    assert events == [f"teardown {node.root}"]
    assert sup.started[0][:2] == [netpol.PROCESS, "/cache/kube-router"]
    assert "--hostname-override=node-0" in sup.started[0]
    assert "--kubeconfig=/kube-router.kc" in sup.started[0]  # its own identity, not admin
    assert (node.root / "addons" / "network-policy" / "argv.json").is_file()
    stop_all(node, sup)  # type: ignore[arg-type]
    assert events == [f"teardown {node.root}"] * 2
