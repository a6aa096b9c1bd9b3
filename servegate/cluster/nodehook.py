"""The hook through which ``servegate cluster up/down/status`` drives the one real node.

The control plane (this package) and the real node (``servegate.cluster.node``, helper G2)
meet here only. ``up`` calls ``check`` before anything is started, then ``up`` once the API
server, controller manager and scheduler are healthy; ``down`` calls ``down`` before the
control plane stops. ``down`` must work from the state directory alone (a crashed ``up`` or
another servegate process), and be idempotent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.pki import CertPair, Pki
from servegate.cluster.versions import Versions
from servegate.config.fleet import Fleet

NODE_MODULE = "servegate.cluster.node"
NODE_FACTORY = "create_runtime"


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``servegate cluster status``."""

    name: str
    running: bool
    detail: str = ""
    pid: int | None = None


@dataclass
class NodeContext:
    """What the node needs from the control plane."""

    cluster: str
    state_dir: Path  # <cluster state>/node: the node's own directory, removed by down
    apiserver_url: str  # https://127.0.0.1:<port>
    ca: CertPair  # the cluster CA (cert + key): sign kubelet client/serving certs with it
    pki: Pki  # pki.issue(stem, cn, orgs, client=, server=, dns=, ips=) -> CertPair
    admin_kubeconfig: Path  # system:masters; for setup steps such as node labels
    binaries: dict[str, Path]  # kubelet, kube-proxy, kubectl (resolved and pinned)
    versions: Versions  # versions.node holds containerd, runc, coredns, pause_image
    service_cidr: str
    cluster_cidr: str
    pod_cidr: str  # this node's podCIDR: the controller manager does not allocate CIDRs
    cluster_dns: str
    cluster_domain: str
    fleet: Fleet | None = None
    log: Callable[[str], None] = field(default=print)


@runtime_checkable
class NodeRuntime(Protocol):
    """The real node, implemented by ``servegate.cluster.node.create_runtime()``."""

    name: str

    def check(self, ctx: NodeContext) -> None:
        """Raise UserError (one line + next step) if this host cannot run the node."""

    def up(self, ctx: NodeContext) -> None:
        """Start the node's processes; return once the kubelet has registered its Node."""

    def down(self, ctx: NodeContext) -> None:
        """Stop what ``up`` started (by recorded PID) and remove mounts, netns, links, rules."""

    def status(self, ctx: NodeContext) -> list[ComponentStatus]:
        """One entry per node process."""

    def load_images(
        self, ctx: NodeContext, names: Sequence[str], progress: ProgressFn | None = None
    ) -> list[str]:
        """Build (or take from the cache) the named local images that ``up`` does not load
        (the engine) and import them into the running node; return their references."""


def load_runtime() -> NodeRuntime | None:
    """The node runtime, or None when this build has no ``servegate.cluster.node`` factory."""
    try:
        module = importlib.import_module(NODE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == NODE_MODULE:
            return None
        raise
    factory = getattr(module, NODE_FACTORY, None)
    if factory is None:
        return None
    runtime = factory()
    if not isinstance(runtime, NodeRuntime):
        raise TypeError(f"{NODE_MODULE}.{NODE_FACTORY}() does not return a NodeRuntime")
    return runtime
