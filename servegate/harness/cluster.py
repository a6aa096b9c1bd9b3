"""The cluster a run works on, as checks see it, and how they reach its Services.

:class:`ClusterHandle` is made once per session by the plugin's ``sg_cluster`` fixture.
``deploy_unit`` (:data:`DeployUnit`) deploys a manifest unit into a fresh namespace the run
owns; :func:`service_url` gives a base URL for a Service from this machine.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from servegate.harness.deploy import Deployed
from servegate.k8s.client import Cluster
from servegate.k8s.confine import Confinement
from servegate.k8s.scope import RunScope


@dataclass
class ClusterHandle:
    kind: str  # "local", "existing", "kind"
    kubeconfig: str
    context: str
    client: Cluster
    routes_to_services: bool  # the host reaches ClusterIPs directly (the local cluster)
    scope: RunScope
    cluster_name: str = "local"  # the local cluster's name (its state directory)
    # On a cluster servegate did not make: what deployed units may claim (None: servegate's own).
    confinement: Confinement | None = None
    # Nodes that run containers, read from the API when some nodes are simulated (kwok);
    # None when every node runs them.
    container_nodes: tuple[str, ...] | None = None


class ServiceURL(str):
    """A base URL from :func:`service_url`, which also says which Service of which cluster
    it reaches, so that a load run can send its load from inside that cluster instead
    (servegate.harness.incluster)."""

    handle: ClusterHandle
    namespace: str
    service: str
    port: int

    def __new__(
        cls, url: str, handle: ClusterHandle, namespace: str, service: str, port: int
    ) -> ServiceURL:
        obj = super().__new__(cls, url)
        obj.handle, obj.namespace, obj.service, obj.port = handle, namespace, service, port
        return obj

    @property
    def in_cluster(self) -> str:
        """The Service's base URL for clients inside the cluster (its DNS name)."""
        return f"http://{self.service}.{self.namespace}.svc:{self.port}"


DeployUnit = Callable[..., contextlib.AbstractContextManager[Deployed]]
"""``deploy_unit(unit, overlay=None, timeout_s=300, wait=True, mutate=None,
runs_containers=True)``: a context manager yielding :class:`Deployed`."""

_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def pin_to_nodes(objects: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Require every workload's pods to run on one of the nodes ``names`` (by node name, so no
    label of the cluster's is assumed), on top of the placement the manifest asks for."""
    pin = {"key": "metadata.name", "operator": "In", "values": list(names)}
    out = []
    for o in objects:
        if o.get("kind") in _WORKLOADS:
            o = copy.deepcopy(o)
            pod = o["spec"]["template"]["spec"]
            required = (
                pod.setdefault("affinity", {})
                .setdefault("nodeAffinity", {})
                .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
            )
            terms = required.setdefault("nodeSelectorTerms", []) or [{}]
            for term in terms:  # terms are alternatives: each one gets the pin
                term.setdefault("matchFields", []).append(copy.deepcopy(pin))
            required["nodeSelectorTerms"] = terms
        out.append(o)
    return out


@contextlib.contextmanager
def service_url(
    handle: ClusterHandle, namespace: str, service: str, port: int | None = None
) -> Iterator[ServiceURL]:
    """A base URL for ``service`` on ``port`` (default: the Service's first port, read from
    the API) reachable from this machine: its ClusterIP where the host routes to Services,
    else a port-forward to a relay pod in front of the Service (not to one of its pods: see
    :mod:`servegate.k8s.relay`). A load run given it may send its load from pods in the
    cluster instead (``--sg-load-from``)."""
    from servegate.k8s import endpoint
    from servegate.k8s.relay import RELAY_PORT, relay

    port = port or endpoint.service_port(handle.client, namespace, service, None)[1]
    if handle.routes_to_services:
        direct = endpoint.direct_url(handle.client, namespace, service, port=port)
        yield ServiceURL(direct, handle, namespace, service, port)
        return
    from servegate.k8s.render import kubectl_binary

    kubectl = str(kubectl_binary())
    labels = handle.scope.labels()
    with (
        relay(handle.client, namespace, service, port, labels, handle.container_nodes) as pod,
        endpoint.port_forward(
            kubectl,
            handle.kubeconfig,
            handle.context,
            namespace,
            service,
            RELAY_PORT,
            target=f"pod/{pod}",
        ) as url,
    ):
        yield ServiceURL(url, handle, namespace, service, port)
