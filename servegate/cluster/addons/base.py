"""What an optional cluster add-on is, and what it is given to start on the local cluster.

Add-ons (NetworkPolicy enforcement, metrics-server, prometheus-adapter, KEDA, Redis, the
KServe and KubeRay controllers) are not part of ``cluster up``: each is built and started on
demand, when a suite first needs it, so that the smoke tier and a cold ``cluster up`` do not
pay for builds they never use. Their processes are recorded in the node's process table, so
``cluster down`` ends them with the rest of the node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from servegate.cluster import identities
from servegate.cluster.api import Api
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.cluster.node.layout import cache_root
from servegate.cluster.pki import Pki
from servegate.procs import ProcessTable

Progress = Callable[[str], None]

BRIDGE_IP = "10.244.0.1"
"""The real node's bridge address: host processes that pods or the API server reach listen
here (pods have no route to the host's loopback)."""


@dataclass(frozen=True)
class AddonContext:
    """A running local cluster, as an add-on sees it."""

    cluster: str
    state_dir: Path  # the cluster's state directory
    node: NodeLayout  # the real node's layout (node.root is its state directory)
    sup: ProcessTable  # the node's processes: `cluster down` stops what it records
    api: Api  # servegate's own admin client (setup steps only; never handed to a process)
    apiserver_url: str  # https://127.0.0.1:<port>
    ca: Path  # cluster CA certificate (its key beside it: identities are signed with it)
    front_proxy_ca: Path  # requestheader CA: extension API servers trust it
    prometheus_url: str  # the node's Prometheus, http://127.0.0.1:<port>
    bridge_ip: str = BRIDGE_IP

    def dir(self, addon: str) -> Path:
        """The add-on's own state directory under the node's (removed by ``down``)."""
        path = self.node.root / "addons" / addon
        path.mkdir(parents=True, exist_ok=True)
        return path

    def identity(self, component: str) -> Credentials:
        """``component``'s own credentials (servegate.cluster.identities): its RBAC applied,
        a client certificate signed by the cluster CA and a kubeconfig using it."""
        ident = identities.get(component)
        identities.apply(self.api, ident)
        path = self.node.root / "identities" / f"{component}.kubeconfig"
        pki = Pki(self.ca.parent, ca_name=self.ca.stem)
        context = f"servegate-{self.cluster}"
        written, pair = identities.write_kubeconfig(pki, ident, self.apiserver_url, context, path)
        return Credentials(ident.user, written, pair.cert, pair.key)


@dataclass(frozen=True)
class Credentials:
    """How one host process authenticates to the API server (and to the kubelet)."""

    user: str
    kubeconfig: Path
    cert: Path
    key: Path


def addon_binary(package: str, version: str, name: str) -> Path:
    """A cached static build of ``package@version`` (``go install``) named ``name-version``."""
    from servegate.cluster.node.gobuild import go_install

    return go_install(package, version, addon_cache() / "bin" / f"{name}-{version}")


def addon_cache() -> Path:
    """Where add-on builds are cached across clusters (a user cache directory)."""
    path = cache_root() / "addons"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class HostAddon:
    """What every add-on declares (see :class:`Addon`): its name, the host processes it
    starts (stopped in reverse order) and the add-ons started before it."""

    name: str
    processes: tuple[str, ...]
    requires: tuple[str, ...] = ()


@runtime_checkable
class Addon(Protocol):
    """One add-on. ``build`` is idempotent and offline once cached; ``start`` is called
    only when ``ready`` says it is not running; both may raise UserError (one line)."""

    name: str
    requires: tuple[str, ...]  # add-ons started before this one
    processes: tuple[str, ...]  # process names it starts, stopped in reverse order

    def build(self, progress: Progress) -> None: ...

    def start(self, ctx: AddonContext, progress: Progress) -> None: ...

    def ready(self, ctx: AddonContext) -> str | None:
        """None once it works end to end, else what is still missing (one line)."""
        ...

    def teardown(self, node: NodeLayout) -> None:
        """Undo host changes other than processes (rules, mounts); ``cluster down`` calls it
        after stopping every process, also after a crash. Must be idempotent."""
        ...

    def check_existing(self, client: Any) -> str | None:
        """On a cluster servegate did not make (a servegate.k8s.client.Cluster): None if the
        capability is there, else a one-line reason naming what to install."""
        ...
