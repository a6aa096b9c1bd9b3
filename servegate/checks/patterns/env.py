"""Cluster-facing half of the pattern benchmarks: a measured pattern, GPUs held, DCGM readings.

GPU utilisation comes from the simulator's DCGM gauges as Prometheus scraped them, the path a
real deployment's dashboards use. On the local cluster that is the node's Prometheus (it scrapes
pods annotated ``prometheus.io/scrape``, which :func:`scrape_annotations` adds); elsewhere a
Prometheus given by ``SERVEGATE_PROMETHEUS_URL`` that already scrapes the DCGM exporter.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from servegate.checks.patterns.figures import GpuUtil
from servegate.checks.patterns.storage import deploy_pattern
from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.harness.deploy import Deployed
from servegate.harness.load import served_model
from servegate.k8s.client import Cluster
from servegate.k8s.nodes import REAL_NODE_SELECTOR
from servegate.k8s.prometheus import Prometheus
from servegate.metrics.summary import Summary
from servegate.wait import poll, wait_for

GPU_RESOURCE = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"
_WORKLOADS = ("Deployment", "StatefulSet")


def scrape_annotations(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Annotate each workload's pods for the local Prometheus (port of its first container)."""
    out = []
    for o in objects:
        if o.get("kind") in _WORKLOADS:
            o = copy.deepcopy(o)
            tmpl = o["spec"]["template"]
            ports = tmpl["spec"]["containers"][0].get("ports") or [{"containerPort": 8000}]
            tmpl.setdefault("metadata", {}).setdefault("annotations", {}).update(
                {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(ports[0]["containerPort"]),
                    "prometheus.io/path": "/metrics",
                }
            )
        out.append(o)
    return out


def admit_product(objects: list[dict[str, Any]], product: str) -> list[dict[str, Any]]:
    """Add ``product`` to every required ``nvidia.com/gpu.product In`` term of the workloads.

    The local cluster's one real node is an A100-SXM4-40GB; a pattern sized for 80 GB GPUs
    (components/placement/gpu-product) could never run there, although its simulator needs
    no GPU memory. Other terms, selectors and the GPU request stay as written.
    """
    out = []
    for o in objects:
        if o.get("kind") in _WORKLOADS:
            o = copy.deepcopy(o)
            aff = o["spec"]["template"]["spec"].get("affinity", {}).get("nodeAffinity", {})
            req = aff.get("requiredDuringSchedulingIgnoredDuringExecution", {})
            for term in req.get("nodeSelectorTerms", []):
                for expr in term.get("matchExpressions", []):
                    is_product = expr.get("key") == PRODUCT_LABEL and expr.get("operator") == "In"
                    if is_product and product not in expr["values"]:
                        expr["values"].append(product)
        out.append(o)
    return out


def local_mutate(
    handle: ClusterHandle,
) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None:
    """On the local cluster: Prometheus annotations, and the real node's GPU product admitted."""
    if handle.kind != "local":
        return None
    nodes = handle.client.core.list_node(label_selector=REAL_NODE_SELECTOR).items
    product = (nodes[0].metadata.labels or {}).get(PRODUCT_LABEL) if nodes else None

    def mutate(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        objects = scrape_annotations(objects)
        return admit_product(objects, product) if product else objects

    return mutate


def wait_serving(url: str, timeout_s: float = 60.0) -> None:
    """Wait until ``url`` answers /v1/models through its Service.

    A workload is Ready before kube-proxy has programmed its Service (EndpointSlice, then an
    iptables sync that lags on a busy node): until then the ClusterIP refuses connections.
    """
    last = ["no answer"]

    def answers() -> bool:
        try:
            served_model(url, timeout_s=5.0)
        except UserError as exc:
            last[0] = str(exc)
            return False
        return True

    wait_for(answers, timeout_s, lambda: last[0], interval_s=0.5)


def serving_service(objects: list[dict[str, Any]], port: int | None = None) -> str:
    """The unit's ClusterIP Service (not a headless one), optionally the one with ``port``."""
    for o in objects:
        if o.get("kind") != "Service" or o["spec"].get("clusterIP") == "None":
            continue
        if port is None or any(p.get("port") == port for p in o["spec"].get("ports", [])):
            return str(o["metadata"]["name"])
    raise UserError(f"the unit has no ClusterIP Service{f' on port {port}' if port else ''}")


@dataclass(frozen=True)
class Held:
    gpus: float
    product: str
    pods: tuple[str, ...]  # the running pods that hold them


def gpus_held(cluster: Cluster, namespace: str) -> Held:
    """GPUs requested by the namespace's running pods, and their product from the node label.

    A pattern's bill is what it holds, busy or not, so this counts allocations, not use.
    """
    pods = cluster.core.list_namespaced_pod(namespace).items
    gpus = 0.0
    products: set[str] = set()
    holders: list[str] = []
    for pod in pods:
        if pod.status.phase != "Running":
            continue
        n = 0.0
        for c in pod.spec.containers:
            limits = (c.resources.limits if c.resources else None) or {}
            n += float(limits.get(GPU_RESOURCE, 0))
        if n:
            gpus += n
            holders.append(pod.metadata.name)
            node = cluster.core.read_node(pod.spec.node_name)
            product = (node.metadata.labels or {}).get(PRODUCT_LABEL)
            if not product:
                raise UserError(f"node {pod.spec.node_name} has no {PRODUCT_LABEL} label")
            products.add(product)
    if not gpus:
        raise UserError(f"no running pod in {namespace} holds a {GPU_RESOURCE}")
    if len(products) > 1:
        raise UserError(f"{namespace}: pods on several GPU products {sorted(products)}")
    return Held(gpus, products.pop(), tuple(sorted(holders)))


def selector(namespace: str, pods: Sequence[str]) -> str:
    """PromQL matchers for ``pods``; pod names are DNS labels, so only dots need escaping
    (doubled: PromQL string escapes come first, then the regex's)."""
    for p in pods:
        if not re.fullmatch(r"[a-z0-9.-]+", p):
            raise UserError(f"not a pod name: {p!r}")
    alternatives = "|".join(p.replace(".", "\\\\.") for p in pods)
    return f'{{namespace="{namespace}",pod=~"{alternatives}"}}'


def wait_for_targets(
    prom: Prometheus, namespace: str, pods: Sequence[str], timeout_s: float = 45.0
) -> None:
    """Wait until ``pods`` are scraped, so the measured window is fully covered."""
    seen = [0]

    def all_up() -> bool:
        seen[0] = len(prom.query(f"up{selector(namespace, pods)} == 1"))
        return seen[0] >= len(pods)

    wait_for(
        all_up,
        timeout_s,
        lambda: (
            f"Prometheus {prom.url} scrapes {seen[0]} of {len(pods)} pod(s) of {namespace} "
            "(are they annotated prometheus.io/scrape?)"
        ),
    )


def wait_past(
    prom: Prometheus, namespace: str, pods: Sequence[str], at_s: float, timeout_s: float = 20.0
) -> None:
    """Wait until a scrape later than ``at_s`` landed, so the window's end is covered.

    Without one by ``timeout_s`` the figures are read as they are (the window's end may then
    be short of a sample)."""
    expr = f"timestamp(DCGM_FI_DEV_GPU_UTIL{selector(namespace, pods)})"
    poll(lambda: any(v >= at_s for _, v in prom.query(expr)), timeout_s)


def gpu_util(
    prom: Prometheus, namespace: str, pods: Sequence[str], start_s: float, end_s: float
) -> GpuUtil | None:
    """DCGM utilisation of ``pods`` over [start, end]: mean over time, then over GPUs."""
    rng = f"{max(1, round(end_s - start_s))}s"
    sel = selector(namespace, pods)
    mean = prom.query(f"avg_over_time(DCGM_FI_DEV_GPU_UTIL{sel}[{rng}])", end_s)
    if not mean:
        return None
    peak = prom.query(f"max_over_time(DCGM_FI_DEV_GPU_UTIL{sel}[{rng}])", end_s)
    fb = prom.query(f"max_over_time(DCGM_FI_DEV_FB_USED{sel}[{rng}])", end_s)
    return GpuUtil(
        util_mean_pct=sum(v for _, v in mean) / len(mean),
        util_max_pct=max(v for _, v in peak) if peak else float("nan"),
        fb_used_max_mib=max(v for _, v in fb) if fb else None,
        series=len(mean),
        source=prom.url,
    )


def prometheus_for(handle: ClusterHandle) -> Prometheus | None:
    """The local node's Prometheus, or ``SERVEGATE_PROMETHEUS_URL``, or None (no GPU util)."""
    url = os.environ.get("SERVEGATE_PROMETHEUS_URL")
    if url:
        return Prometheus(url)
    if handle.kind != "local":
        return None
    from servegate.cluster import addons

    return Prometheus(addons.context(handle.cluster_name).prometheus_url)


@dataclass(frozen=True)
class Pattern:
    """A deployed serving pattern: its objects, the GPUs it holds, where DCGM is read."""

    dep: Deployed
    held: Held
    prom: Prometheus | None  # None: no Prometheus scrapes DCGM here, no GPU utilisation

    @property
    def namespace(self) -> str:
        return self.dep.namespace

    def service(self, port: int | None = None) -> str:
        """The pattern's ClusterIP Service (the one on ``port``, if given)."""
        return serving_service(self.dep.objects, port)

    def wait_scraped(self) -> None:
        """Wait until Prometheus scrapes every pod that holds a GPU (no-op without one)."""
        if self.prom is not None:
            wait_for_targets(self.prom, self.namespace, self.held.pods)

    def gpu_util(self, summary: Summary) -> GpuUtil | None:
        """DCGM utilisation over the measured window of a run's ``summary``, once Prometheus
        has scraped past the window's end (None without a Prometheus)."""
        if self.prom is None:
            return None
        start_s, end_s = summary.run.window.start_ns / 1e9, summary.run.window.end_ns / 1e9
        wait_past(self.prom, self.namespace, self.held.pods, end_s)
        return gpu_util(self.prom, self.namespace, self.held.pods, start_s, end_s)


@contextlib.contextmanager
def deployed_pattern(
    handle: ClusterHandle, deploy_unit: DeployUnit, unit: str
) -> Iterator[Pattern]:
    """Deploy ``unit`` as a measured pattern: on the local cluster its pods are annotated for
    the node's Prometheus, its GPU product is admitted and its claims get volumes; then the
    GPUs its running pods hold are counted."""
    prom = prometheus_for(handle)
    with deploy_pattern(handle, deploy_unit, unit, local_mutate(handle)) as dep:
        yield Pattern(dep, gpus_held(handle.client, dep.namespace), prom)


__all__ = [
    "Held",
    "Pattern",
    "admit_product",
    "deployed_pattern",
    "gpu_util",
    "gpus_held",
    "local_mutate",
    "prometheus_for",
    "scrape_annotations",
    "selector",
    "serving_service",
    "wait_for_targets",
    "wait_past",
    "wait_serving",
]
