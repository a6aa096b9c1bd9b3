"""Cluster-facing half of the pattern benchmarks: GPUs held, their product, DCGM via Prometheus.

GPU utilisation comes from the simulator's DCGM gauges as Prometheus scraped them, the path a
real deployment's dashboards use. On the local cluster that is the node's Prometheus (it scrapes
pods annotated ``prometheus.io/scrape``, which :func:`scrape_annotations` adds); elsewhere a
Prometheus given by ``SERVEGATE_PROMETHEUS_URL`` that already scrapes the DCGM exporter.
"""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pattern_figures import GpuUtil

from servegate.errors import UserError

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


def local_mutate(handle: Any) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None:
    """On the local cluster: Prometheus annotations, and the real node's GPU product admitted."""
    if handle.kind != "local":
        return None
    nodes = handle.client.core.list_node(label_selector="servegate.io/node=real").items
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
    from servegate.harness.load import served_model

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            served_model(url, timeout_s=5.0)
            return
        except UserError as exc:
            if time.monotonic() >= deadline:
                raise UserError(f"{exc} (still after {timeout_s:g} s)") from None
            time.sleep(0.5)


def serving_service(objects: list[dict[str, Any]], port: int | None = None) -> str:
    """The unit's ClusterIP Service (not a headless one), optionally the one with ``port``."""
    for o in objects:
        if o.get("kind") != "Service" or o["spec"].get("clusterIP") == "None":
            continue
        if port is None or any(p.get("port") == port for p in o["spec"].get("ports", [])):
            return str(o["metadata"]["name"])
    raise LookupError(f"the unit has no ClusterIP Service{f' on port {port}' if port else ''}")


@dataclass(frozen=True)
class Held:
    gpus: float
    product: str
    pods: tuple[str, ...]  # the running pods that hold them


def gpus_held(cluster: Any, namespace: str) -> Held:
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


class Prometheus:
    """The few instant queries the benchmarks need (prometheus-api-client underneath)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        from prometheus_api_client import PrometheusConnect

        self.url = url.rstrip("/")
        self._api = PrometheusConnect(url=self.url, disable_ssl=True, timeout=timeout_s)

    def query(self, expr: str, at_s: float | None = None) -> list[tuple[dict[str, str], float]]:
        from prometheus_api_client.exceptions import PrometheusApiClientException

        params = None if at_s is None else {"time": f"{at_s:.3f}"}
        try:
            result = self._api.custom_query(expr, params=params)
            return [(dict(r["metric"]), float(r["value"][1])) for r in result]
        except (PrometheusApiClientException, OSError, ValueError, KeyError, TypeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise UserError(f"Prometheus {self.url}: query {expr!r} failed: {first}") from None

    def wait_for_targets(
        self, namespace: str, pods: Sequence[str], timeout_s: float = 45.0
    ) -> None:
        """Wait until ``pods`` are scraped, so the measured window is fully covered."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            seen = len(self.query(f"up{selector(namespace, pods)} == 1"))
            if seen >= len(pods):
                return
            time.sleep(1.0)
        raise UserError(
            f"Prometheus {self.url} scrapes {seen} of {len(pods)} pod(s) of {namespace} after "
            f"{timeout_s:g} s (are they annotated prometheus.io/scrape?)"
        )

    def wait_past(
        self, namespace: str, pods: Sequence[str], at_s: float, timeout_s: float = 20.0
    ) -> None:
        """Wait until a scrape later than ``at_s`` landed, so the window's end is covered."""
        deadline = time.monotonic() + timeout_s
        expr = f"timestamp(DCGM_FI_DEV_GPU_UTIL{selector(namespace, pods)})"
        while time.monotonic() < deadline:
            if any(v >= at_s for _, v in self.query(expr)):
                return
            time.sleep(1.0)

    def gpu_util(
        self, namespace: str, pods: Sequence[str], start_s: float, end_s: float
    ) -> GpuUtil | None:
        """DCGM utilisation of ``pods`` over [start, end]: mean over time, then over GPUs."""
        rng = f"{max(1, round(end_s - start_s))}s"
        sel = selector(namespace, pods)
        mean = self.query(f"avg_over_time(DCGM_FI_DEV_GPU_UTIL{sel}[{rng}])", end_s)
        if not mean:
            return None
        peak = self.query(f"max_over_time(DCGM_FI_DEV_GPU_UTIL{sel}[{rng}])", end_s)
        fb = self.query(f"max_over_time(DCGM_FI_DEV_FB_USED{sel}[{rng}])", end_s)
        return GpuUtil(
            util_mean_pct=sum(v for _, v in mean) / len(mean),
            util_max_pct=max(v for _, v in peak) if peak else float("nan"),
            fb_used_max_mib=max(v for _, v in fb) if fb else None,
            series=len(mean),
            source=self.url,
        )


def prometheus_for(handle: Any) -> Prometheus | None:
    """The local node's Prometheus, or ``SERVEGATE_PROMETHEUS_URL``, or None (no GPU util)."""
    url = os.environ.get("SERVEGATE_PROMETHEUS_URL")
    if url:
        return Prometheus(url)
    if handle.kind != "local":
        return None
    from servegate.cluster import addons

    return Prometheus(addons.context(handle.cluster_name).prometheus_url)


__all__ = [
    "Held",
    "Prometheus",
    "admit_product",
    "gpus_held",
    "local_mutate",
    "prometheus_for",
    "scrape_annotations",
    "selector",
    "serving_service",
    "wait_serving",
]
