"""Optional add-ons of the local cluster, built and started on demand (see base.py)."""

from __future__ import annotations

import functools
import importlib
import time
import urllib.parse

from servegate.cluster.addons.base import Addon, AddonContext, Progress
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.errors import UserError
from servegate.procs import ProcessTable
from servegate.wait import wait_until

CORE_PROCESSES = (
    "containerd",
    "kubelet",
    "fakegpu",
    "kube-proxy",
    "coredns",
    "podsd",
    "prometheus",
)
"""The node's own processes (servegate.cluster.node.node); anything else recorded is an add-on's."""

REGISTRY: dict[str, str] = {
    # name -> "module:attribute" of an Addon instance; modules are imported only when used.
    "metrics-server": "servegate.cluster.addons.metrics_server:ADDON",
    "prometheus-adapter": "servegate.cluster.addons.prometheus_adapter:ADDON",
    "network-policy": "servegate.cluster.addons.netpol:ADDON",
    "redis": "servegate.cluster.addons.redis:ADDON",
    "keda": "servegate.cluster.addons.keda:ADDON",
    "kuberay": "servegate.cluster.addons.kuberay:ADDON",
    "kserve": "servegate.cluster.addons.kserve:ADDON",
}


def load(name: str) -> Addon:
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise UserError(f"unknown add-on {name!r} (known: {known})") from None
    module, _, attr = target.partition(":")
    addon = getattr(importlib.import_module(module), attr)
    if not isinstance(addon, Addon):
        raise TypeError(f"{target} is not an Addon")
    return addon


def _order(names: list[str]) -> list[Addon]:
    """``names`` and what they require, each after its requirements."""
    out: list[Addon] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in chain:
            raise UserError(f"add-on requirement cycle: {' -> '.join((*chain, name))}")
        addon = load(name)
        for req in addon.requires:
            visit(req, (*chain, name))
        seen.add(name)
        out.append(addon)

    for n in names:
        visit(n, ())
    return out


def enable(
    ctx: AddonContext,
    names: list[str],
    progress: Progress = lambda _m: None,
    timeout_s: float = 300.0,
) -> dict[str, float]:
    """Build and start ``names`` (and their requirements) unless already working.

    Returns the seconds each add-on took (0 for those already running)."""
    took: dict[str, float] = {}
    for addon in _order(names):
        t0 = time.monotonic()
        if addon.ready(ctx) is None:
            took[addon.name] = 0.0
            continue
        progress(f"add-on {addon.name}: building")
        addon.build(progress)
        # A half-started add-on (crashed process, stale pid file) is stopped first.
        for proc in reversed(addon.processes):
            ctx.sup.stop(proc)
        progress(f"add-on {addon.name}: starting")
        addon.start(ctx, progress)
        if not wait_until(functools.partial(_started, ctx, addon), timeout_s, interval_s=1.0):
            reason = addon.ready(ctx)
            raise UserError(f"add-on {addon.name} not ready after {timeout_s:.0f}s: {reason}")
        took[addon.name] = time.monotonic() - t0
    return took


def _started(ctx: AddonContext, addon: Addon) -> bool:
    """``addon`` is ready; a one-line error if one of its processes has exited."""
    if addon.ready(ctx) is None:
        return True
    dead = [p for p in addon.processes if not ctx.sup.alive(p)]
    if dead:
        log = ctx.sup.log_path(dead[0])
        raise UserError(f"add-on {addon.name}: {dead[0]} exited (log: {log})")
    return False


APISERVICES = "/apis/apiregistration.k8s.io/v1/apiservices"


def unregister(ctx: AddonContext, name: str, progress: Progress = lambda _m: None) -> None:
    """Delete the APIServices add-on ``name`` registered (label ``servegate.io/addon``).

    An APIService left behind its stopped server makes API discovery fail for every client:
    the namespace controller then keeps each deleted namespace ``Terminating`` with
    ``NamespaceDeletionDiscoveryFailure`` until the server is back (in the e2e tier, minutes
    per test after a test had stopped its add-ons)."""
    selector = urllib.parse.quote(f"servegate.io/addon={name}", safe="")
    try:
        found = ctx.api.get(f"{APISERVICES}?labelSelector={selector}") or {}
        for item in found.get("items") or []:
            apiservice = item["metadata"]["name"]
            progress(f"add-on {name}: unregistering APIService {apiservice}")
            ctx.api.delete(f"{APISERVICES}/{apiservice}")
    finally:
        ctx.api.close()


def disable(ctx: AddonContext, name: str, progress: Progress = lambda _m: None) -> None:
    """Unregister one add-on's aggregated APIs, stop its processes (newest first) and undo
    its host changes."""
    addon = load(name)
    unregister(ctx, name, progress)
    for proc in reversed(addon.processes):
        progress(f"add-on {name}: stopping {proc}")
        ctx.sup.stop(proc)
    addon.teardown(ctx.node)


def stop_all(node: NodeLayout, sup: ProcessTable, progress: Progress = lambda _m: None) -> None:
    """End every add-on process of the node (newest first) and undo their host changes.

    Called by the node's ``down`` before the core processes stop."""
    core = set(CORE_PROCESSES)
    extra = [r for r in sup.records() if r.name not in core]
    for rec in reversed(extra):  # records come in start order
        progress(f"node: stopping add-on process {rec.name}")
        sup.stop(rec.name)
    root = node.root / "addons"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if d.name in REGISTRY:
            progress(f"node: tearing down add-on {d.name}")
            load(d.name).teardown(node)


def context(cluster: str = "local") -> AddonContext:
    """The add-on context of the running local cluster ``cluster``."""
    from servegate.cluster.api import Api
    from servegate.cluster.controlplane import Layout
    from servegate.cluster.local import LocalCluster
    from servegate.cluster.network import LOOPBACK

    lc = LocalCluster(cluster, log=lambda _m: None)
    if not lc.running():
        raise UserError(f"local cluster {cluster!r} is not running: servegate cluster up")
    layout = Layout(lc.state)
    node = NodeLayout(lc.state / "node")
    pki = layout.pki
    port = lc.ports.apiserver
    return AddonContext(
        cluster=cluster,
        state_dir=lc.state,
        node=node,
        sup=node.processes(),
        api=Api(LOOPBACK, port, pki / "ca.crt", pki / "admin.crt", pki / "admin.key"),
        apiserver_url=f"https://{LOOPBACK}:{port}",
        ca=pki / "ca.crt",
        front_proxy_ca=pki / "front-proxy-ca.crt",
        prometheus_url=f"http://{LOOPBACK}:{port + 6}",
    )


__all__ = [
    "REGISTRY",
    "Addon",
    "AddonContext",
    "context",
    "disable",
    "enable",
    "load",
    "stop_all",
]
