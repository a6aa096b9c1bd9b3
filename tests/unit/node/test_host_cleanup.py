"""Host cleanup removes only what this cluster made: its iptables chains (never a foreign
``KUBE-*`` chain, Docker's, or one that was there before ``up``), its bridge's interfaces and
mounts under its own directories.

The host is a fake: ``iptables -S`` output per table that the ``-D``/``-F``/``-X`` commands
really edit, and ``ip`` output for the links, so the end state is checked, not the commands.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from servegate.cluster.addons import netpol
from servegate.cluster.node import leftovers, net
from servegate.cluster.node.layout import BRIDGE, Layout

SVC_OURS = "KUBE-SVC-TCOU7JCQXEZGVUNU"  # kube-dns:dns, made by our kube-proxy
SEP_OURS = "KUBE-SEP-IT2ZTR26TO4XFPTO"
SVC_BEFORE = "KUBE-SVC-NPX46M4PTMTKRN6Y"  # there before our first up: someone else's

NAT = [
    "-P PREROUTING ACCEPT",
    "-P POSTROUTING ACCEPT",
    "-N DOCKER",
    "-N KUBE-FOO",  # another tool's chain with a KUBE- name
    "-N KUBE-POSTROUTING",
    "-N KUBE-SERVICES",
    f"-N {SEP_OURS}",
    f"-N {SVC_BEFORE}",
    f"-N {SVC_OURS}",
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
    "-A PREROUTING -j KUBE-FOO",
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    "-A DOCKER -i docker0 -j RETURN",
    "-A KUBE-FOO -d 192.0.2.1/32 -j RETURN",
    f"-A KUBE-FOO -j {SVC_BEFORE}",
    f'-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns'
    f' cluster IP" -j {SVC_OURS}',
    f"-A {SVC_OURS} -j {SEP_OURS}",
    f"-A {SEP_OURS} -p udp -j DNAT --to-destination 10.244.0.1:53",
    f"-A {SVC_BEFORE} -j RETURN",
]
FILTER = [
    "-P INPUT ACCEPT",
    "-P FORWARD ACCEPT",
    "-N DOCKER-USER",
    "-N KUBE-FIREWALL",
    "-N KUBE-ROUTER-FORWARD",
    "-N SERVEGATE-FWD",
    "-A INPUT -j KUBE-FIREWALL",
    "-A FORWARD -j DOCKER-USER",
    "-A FORWARD -i sgbr0 -j SERVEGATE-FWD",
    '-A FORWARD -m comment --comment "kube-router netpol - X" -j KUBE-ROUTER-FORWARD',
    "-A SERVEGATE-FWD -d 10.244.0.0/24 -o sgbr0 -j ACCEPT",
    "-A SERVEGATE-FWD -j DROP",
]


@dataclass
class FakeHost:
    """iptables tables and ipsets that answer ``-S`` and apply ``-D``, ``-F``, ``-X``."""

    tables: dict[tuple[str, str], list[str]]
    sets: list[str] = field(default_factory=list)
    links: dict[str, str | None] = field(default_factory=dict)  # name -> master
    ran: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self.ran.append(cmd)
        ok = subprocess.CompletedProcess(list(cmd), 0, "", "")
        if cmd[0] in ("iptables", "ip6tables"):
            return self._iptables(cmd, ok)
        if cmd[:3] == ("ipset", "list", "-n"):
            ok.stdout = "\n".join(self.sets)
        elif cmd[:2] == ("ipset", "destroy"):
            self.sets.remove(cmd[2])
        elif cmd[0] == "ip":
            return self._ip(cmd, ok)
        return ok

    def _iptables(
        self, cmd: tuple[str, ...], ok: subprocess.CompletedProcess[str]
    ) -> subprocess.CompletedProcess[str]:
        args = [a for a in cmd[1:] if a != "-w"]
        table = "filter"
        if args[:1] == ["-t"]:
            table, args = args[1], args[2:]
        rules = self.tables.setdefault((cmd[0], table), [])
        op = args[0]
        if op == "-S":
            ok.stdout = "\n".join(rules) + "\n"
        elif op == "-D":
            wanted = ["-A", *args[1:]]
            rules[:] = [r for r in rules if shlex.split(r) != wanted] + []
        elif op == "-F":
            rules[:] = [r for r in rules if not r.startswith(f"-A {args[1]} ")]
        elif op == "-X":
            if any(shlex.split(r)[-1] == args[1] for r in rules if r.startswith("-A ")):
                return subprocess.CompletedProcess(list(cmd), 1, "", "chain in use")
            rules.remove(f"-N {args[1]}")
        return ok

    def _ip(
        self, cmd: tuple[str, ...], ok: subprocess.CompletedProcess[str]
    ) -> subprocess.CompletedProcess[str]:
        if cmd[1:4] == ("-o", "link", "show"):  # ip -o link show master X
            master = cmd[5]
            ok.stdout = "".join(
                f"{i}: {n}@if2: <UP> mtu 1500 master {master}\n"
                for i, (n, m) in enumerate(self.links.items())
                if m == master
            )
        elif cmd[1:3] == ("link", "show"):
            if cmd[-1] not in self.links:
                return subprocess.CompletedProcess(list(cmd), 1, "", "does not exist")
        elif cmd[1:3] == ("link", "del"):
            del self.links[cmd[3]]
        return ok

    def chains(self, tool: str = "iptables") -> set[str]:
        out = set()
        for (t, _), rules in self.tables.items():
            out |= {r.split()[1] for r in rules if t == tool and r.startswith("-N ")}
        return out


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    fake = FakeHost(
        {("iptables", "nat"): list(NAT), ("iptables", "filter"): list(FILTER)},
        sets=["docker-set", "KUBE-SRC-ABCDEFGHIJKLMNOP", "KUBE-DST-BEFOREBEFOREBEFO"],
        links={"eth0": None, "docker0": None, "vethdock": "docker0", BRIDGE: None, "veth1": BRIDGE},
    )
    monkeypatch.setattr(net, "_run", fake)
    monkeypatch.setattr(netpol, "_run", lambda *cmd: fake(*cmd))
    monkeypatch.setattr(shutil, "which", lambda tool: f"/usr/sbin/{tool}")
    return fake


def _baseline(state: Path, **extra: list[str]) -> None:
    state.mkdir(parents=True, exist_ok=True)
    data = {"iptables/nat": [SVC_BEFORE], **extra}
    (state / net.BASELINE_FILE).write_text(json.dumps(data))


def test_teardown_removes_this_clusters_chains_and_nothing_else(
    host: FakeHost, tmp_path: Path
) -> None:
    _baseline(tmp_path)
    net.flush_chains(tmp_path)
    assert host.chains() == {"DOCKER", "DOCKER-USER", "KUBE-FOO", SVC_BEFORE}
    nat = host.tables[("iptables", "nat")]
    # Foreign jumps and chains are intact, rule for rule.
    for rule in (
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-A PREROUTING -j KUBE-FOO",
    ):
        assert rule in nat
    assert f"-A KUBE-FOO -j {SVC_BEFORE}" in nat and f"-A {SVC_BEFORE} -j RETURN" in nat
    assert "-A FORWARD -j DOCKER-USER" in host.tables[("iptables", "filter")]
    # Ours are gone, jumps included.
    assert not any("KUBE-SERVICES" in r or "KUBE-ROUTER" in r for r in nat)
    assert host.tables[("iptables", "filter")] == [
        "-P INPUT ACCEPT",
        "-P FORWARD ACCEPT",
        "-N DOCKER-USER",
        "-A FORWARD -j DOCKER-USER",
    ]
    assert net.kube_chains(tmp_path) == {}


def test_without_a_baseline_a_foreign_kube_chain_still_survives(host: FakeHost) -> None:
    """The old sweep flushed and deleted every KUBE-* chain, KUBE-FOO included. Without a
    baseline (a node state from before this change), only names our components make go."""
    net.flush_chains(None)
    assert "KUBE-FOO" in host.chains()
    assert SVC_BEFORE in host.chains()  # still referenced by KUBE-FOO, so it cannot go
    assert [r for r in host.tables[("iptables", "nat")] if r.startswith("-A KUBE-FOO")] == [
        "-A KUBE-FOO -d 192.0.2.1/32 -j RETURN",
        f"-A KUBE-FOO -j {SVC_BEFORE}",
    ]


def test_leftovers_name_our_chains_only(host: FakeHost, tmp_path: Path) -> None:
    _baseline(tmp_path)
    found = net.kube_chains(tmp_path)
    assert sorted(found["iptables/nat"]) == sorted(
        ["KUBE-POSTROUTING", "KUBE-SERVICES", SEP_OURS, SVC_OURS]
    )
    assert sorted(found["iptables/filter"]) == ["KUBE-FIREWALL", "KUBE-ROUTER-FORWARD", net.GUARD]
    assert "KUBE-FOO" not in found["iptables/nat"]


def test_baseline_is_recorded_before_the_network_is_set_up(host: FakeHost, tmp_path: Path) -> None:
    net.record_baseline(tmp_path)
    saved = json.loads((tmp_path / net.BASELINE_FILE).read_text())
    assert sorted(saved["iptables/nat"]) == sorted(
        ["KUBE-POSTROUTING", "KUBE-SERVICES", SEP_OURS, SVC_BEFORE, SVC_OURS]
    )
    assert "KUBE-FOO" not in saved["iptables/nat"]  # not a name we make: never ours anyway
    assert saved["ipset"] == host.sets
    # A node that owns the host network keeps its baseline; a new one records afresh.
    host.tables[("iptables", "nat")].append("-N KUBE-SVC-AAAAAAAAAAAAAAAA")
    (tmp_path / net.SYSCTLS_FILE).write_text("{}")
    net.record_baseline(tmp_path)
    assert "KUBE-SVC-AAAAAAAAAAAAAAAA" not in (tmp_path / net.BASELINE_FILE).read_text()
    (tmp_path / net.SYSCTLS_FILE).unlink()
    net.record_baseline(tmp_path)
    assert "KUBE-SVC-AAAAAAAAAAAAAAAA" in (tmp_path / net.BASELINE_FILE).read_text()


def test_up_refuses_only_chains_a_second_node_would_share(host: FakeHost) -> None:
    assert net.conflicting_chains() == [
        "iptables/filter KUBE-FIREWALL",
        f"iptables/filter {net.GUARD}",
        "iptables/nat KUBE-POSTROUTING",
        "iptables/nat KUBE-SERVICES",
    ]
    host.tables[("iptables", "nat")] = ["-N DOCKER", "-N KUBE-FOO", f"-N {SVC_BEFORE}"]
    host.tables[("iptables", "filter")] = ["-N DOCKER-USER"]
    assert net.conflicting_chains() == []


@pytest.mark.parametrize(
    ("chain", "ours"),
    [
        ("KUBE-SERVICES", True),
        ("KUBE-SVC-TCOU7JCQXEZGVUNU", True),
        ("KUBE-SEP-IT2ZTR26TO4XFPTO", True),
        ("KUBE-KUBELET-CANARY", True),
        ("KUBE-NWPLCY-DEFAULT", True),
        ("SERVEGATE-FWD", True),
        ("KUBE-FOO", False),
        ("KUBE-SVC-short", False),
        ("KUBE-IPVS-FILTER", False),  # ipvs mode: not run here
        ("DOCKER", False),
    ],
)
def test_chain_names_our_components_make(chain: str, ours: bool) -> None:
    assert net.cluster_chain(chain) is ours


def test_network_policy_teardown_keeps_what_was_there_before(
    host: FakeHost, tmp_path: Path
) -> None:
    host.tables[("iptables", "filter")] += ["-N KUBE-NWPLCY-BEFOREBEFOREBEFO"]
    _baseline(
        tmp_path,
        **{
            "iptables/filter": ["KUBE-NWPLCY-BEFOREBEFOREBEFO"],
            "ipset": ["KUBE-DST-BEFOREBEFOREBEFO"],
        },
    )
    netpol.teardown_host(tmp_path)
    assert "KUBE-NWPLCY-BEFOREBEFOREBEFO" in host.chains()
    assert "KUBE-ROUTER-FORWARD" not in host.chains()
    assert host.sets == ["docker-set", "KUBE-DST-BEFOREBEFOREBEFO"]


def test_interfaces_removed_are_our_bridge_and_its_ports_only(
    host: FakeHost, tmp_path: Path
) -> None:
    _baseline(tmp_path)
    net.teardown(tmp_path)
    assert set(host.links) == {"eth0", "docker0", "vethdock"}


def test_mounts_swept_are_under_our_directories_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout(tmp_path / "node")
    ours = [str(layout.root / "netns" / "cni-1"), str(layout.containerd_root / "tmpmounts" / "m1")]
    foreign = [
        "/",
        "/var/lib/docker/overlay2/abc/merged",
        "/run/netns/other",
        str(tmp_path / "node-other" / "netns" / "x"),  # a sibling directory with our prefix
    ]
    monkeypatch.setattr(leftovers, "_mount_points", lambda: [*foreign, *ours])
    assert leftovers.our_mounts(layout) == ours


def test_guard_chain_jump_is_found_by_target_not_by_mention() -> None:
    rules = [
        "-N SERVEGATE-FWD",
        "-N MINE",
        '-A FORWARD -m comment --comment "see SERVEGATE-FWD" -j MINE',
        "-A FORWARD -i sgbr0 -j SERVEGATE-FWD",
    ]
    assert net.removal(rules, ["SERVEGATE-FWD"]) == [
        ["-D", "FORWARD", "-i", "sgbr0", "-j", "SERVEGATE-FWD"],
        ["-F", "SERVEGATE-FWD"],
        ["-X", "SERVEGATE-FWD"],
    ]
