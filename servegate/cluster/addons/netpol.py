"""``network-policy``: a real NetworkPolicy enforcer for the local cluster (kube-router).

Why kube-router and not kube-network-policies: kube-network-policies hands the first packet of
each connection to user space through the nftables ``queue`` statement, and kernels built
without ``CONFIG_NFT_QUEUE`` (this project's machines among them) refuse that rule with
"No such file or directory". kube-router's firewall needs only iptables (``xt_set``,
``physdev``, ``mark``, ``conntrack``) and ipset, which every distribution kernel has.

Only the firewall controller runs (no BGP router, no service proxy: kube-proxy stays in charge
of Services). It is a host process with its own read-only identity (servegate:kube-router,
servegate.cluster.identities) and the real node's name; its health and metrics servers are off,
since they can only bind every address.

What it adds to the host, and :func:`teardown` removes (found by name, so also after a
crash): filter-table chains ``KUBE-ROUTER-{INPUT,FORWARD,OUTPUT}``, ``KUBE-POD-FW-*``,
``KUBE-NWPLCY-*`` with the jumps to them from the built-in chains, and ipsets ``KUBE-SRC-*``,
``KUBE-DST-*`` and its swap sets ``TMP-<16 base32 chars>``; never those of these names that
were on the host before the node's first ``up`` (its baseline, servegate.cluster.node.net).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from servegate.cluster.addons.base import AddonContext, HostAddon, Progress, addon_binary
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.cluster.node.layout import NodeSpec
from servegate.cluster.node.net import KUBE_ROUTER_PREFIXES, foreign, removal
from servegate.errors import UserError
from servegate.k8s.nodes import REAL_NODE_SELECTOR

MODULE = "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
VERSION = "v2.1.0"
"""The only kube-router release the module proxy serves here; it runs its firewall only."""
PROCESS = "kube-router"

TOP_CHAINS = ("KUBE-ROUTER-INPUT", "KUBE-ROUTER-FORWARD", "KUBE-ROUTER-OUTPUT")
CHAIN_PREFIXES = KUBE_ROUTER_PREFIXES
_SET = re.compile(r"^(inet6:)?(KUBE-SRC-|KUBE-DST-)[A-Z0-9]+$|^TMP-[A-Z2-7]{16}$")
HOST_TOOLS = ("iptables", "iptables-save", "iptables-restore", "ipset")
DEBIAN_PACKAGES = "iptables ipset"


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=60)


def missing_tools() -> list[str]:
    """Host commands kube-router execs (go-iptables and its ipset wrapper call them)."""
    return [t for t in HOST_TOOLS if shutil.which(t) is None]


def our_chains(tool: str = "iptables", keep: frozenset[str] = frozenset()) -> list[str]:
    """kube-router's chains in the filter table, as ``-S`` lists them (``keep`` excepted)."""
    out = _run(tool, "-w", "-t", "filter", "-S").stdout
    names = [ln.split()[1] for ln in out.splitlines() if ln.startswith("-N ")]
    return [n for n in names if n.startswith(CHAIN_PREFIXES) and n not in keep]


def our_sets(keep: frozenset[str] = frozenset()) -> list[str]:
    """kube-router's ipsets (none if ipset is not installed; ``keep`` excepted)."""
    if shutil.which("ipset") is None:
        return []
    names = _run("ipset", "list", "-n").stdout.split()
    return [s for s in names if _SET.match(s) and s not in keep]


def leftovers(node_state: Path | None = None) -> list[str]:
    """Whatever the enforcer left on the host: empty after a clean teardown. With the node's
    state directory, what was there before the node's first ``up`` does not count."""
    before = foreign(node_state)
    found = [
        f"{tool} chain {c}"
        for tool in ("iptables", "ip6tables")
        for c in our_chains(tool, before.get(f"{tool}/filter", frozenset()))
    ]
    return found + [f"ipset {s}" for s in our_sets(before.get("ipset", frozenset()))]


def _remove_chains(tool: str, keep: frozenset[str]) -> None:
    chains = our_chains(tool, keep)
    if not chains:
        return
    rules = _run(tool, "-w", "-t", "filter", "-S").stdout.splitlines()
    for args in removal(rules, chains):
        _run(tool, "-w", "-t", "filter", *args)


def teardown_host(node_state: Path | None = None) -> None:
    """Remove the chains and ipsets kube-router made (idempotent; the process is gone); with
    the node's state directory, those in its baseline stay."""
    before = foreign(node_state)
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool):
            _remove_chains(tool, before.get(f"{tool}/filter", frozenset()))
    for name in our_sets(before.get("ipset", frozenset())):  # once no rule refers to them
        _run("ipset", "destroy", name)
    left = leftovers(node_state)
    if left:
        raise UserError(f"network-policy teardown left {', '.join(left[:5])}")


def real_node_name(ctx: AddonContext) -> str:
    try:
        found = ctx.api.get(f"/api/v1/nodes?labelSelector={REAL_NODE_SELECTOR}")
    finally:
        ctx.api.close()  # callers may drop the context without closing its connection
    nodes = found.get("items", []) if isinstance(found, dict) else []
    if not nodes:
        raise UserError(f"network-policy: no node labelled {REAL_NODE_SELECTOR} in the cluster")
    return str(nodes[0]["metadata"]["name"])


def argv(binary: str, kubeconfig: Path, node_name: str, spec: NodeSpec) -> list[str]:
    """kube-router with its firewall only, answering to nothing on the network."""
    return [
        binary,
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node_name}",
        f"--service-cluster-ip-range={spec.service_cidr}",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        "--health-port=0",
        "--metrics-port=0",
        "--iptables-sync-period=1m",
        "--v=1",
    ]


class NetworkPolicyAddon(HostAddon):
    def build(self, progress: Progress) -> None:
        missing = missing_tools()
        if missing:
            raise UserError(
                f"network-policy needs {', '.join(missing)} on the host: "
                f"apt-get install {DEBIAN_PACKAGES}"
            )
        progress(f"network-policy: kube-router {VERSION} (go install, cached after the first)")
        addon_binary(MODULE, VERSION, "kube-router")

    def start(self, ctx: AddonContext, progress: Progress) -> None:
        teardown_host(ctx.node.root)  # a crashed earlier run's rules would confuse this one
        binary = addon_binary(MODULE, VERSION, "kube-router")
        creds = ctx.identity(PROCESS)
        cmd = argv(str(binary), creds.kubeconfig, real_node_name(ctx), NodeSpec())
        # The add-on's directory is how `cluster down` knows to call teardown() for it.
        (ctx.dir(self.name) / "argv.json").write_text(json.dumps(cmd, indent=1) + "\n")
        ctx.sup.start(PROCESS, cmd)

    def ready(self, ctx: AddonContext) -> str | None:
        if not ctx.sup.alive(PROCESS):
            return "kube-router is not running"
        chains = set(our_chains())
        missing = [c for c in (*TOP_CHAINS, "KUBE-NWPLCY-DEFAULT") if c not in chains]
        if missing:
            return f"kube-router has not programmed {', '.join(missing)} yet"
        forward = _run("iptables", "-w", "-t", "filter", "-S", "FORWARD").stdout
        if "-j KUBE-ROUTER-FORWARD" not in forward:
            return "FORWARD does not jump to KUBE-ROUTER-FORWARD yet"
        return None

    def teardown(self, node: NodeLayout) -> None:
        teardown_host(node.root)

    def check_existing(self, client: Any) -> str | None:
        """Always None: whether policies are enforced is judged by traffic (the isolation
        suite's canary), since no API object says which implementation runs."""
        return None


ADDON = NetworkPolicyAddon("network-policy", (PROCESS,))
