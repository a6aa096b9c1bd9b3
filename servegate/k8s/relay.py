"""A relay pod in front of a Service, for clusters this machine cannot route into.

``kubectl port-forward svc/NAME`` picks one pod behind the Service and tunnels to it alone:
when that pod goes (a rolling update, an eviction) every connection through the tunnel fails,
and replicas added by an autoscaler never see a request. The relay is one pod of the probe
image (``probe relay``) that opens a new connection to the Service's DNS name for every
connection it accepts, so traffic forwarded to it reaches the Service as in-cluster clients'
does: through the ClusterIP, over the ready endpoints. It is labelled as the api gateway, the
one client the reference NetworkPolicy admits to the model server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

from servegate.k8s.client import Cluster, ClusterError
from servegate.wait import poll

PROBE_IMAGE = os.environ.get("SERVEGATE_PROBE_IMAGE", "servegate.local/probe:0.1.0")
"""The probe image (images/probe); on a cluster that cannot run servegate.local images, one
its nodes can pull (SERVEGATE_PROBE_IMAGE)."""
RELAY_PORT = 8000
GATEWAY_LABELS = {"role": "api-gateway", "app.kubernetes.io/name": "servegate-relay"}


def node_affinity(names: tuple[str, ...]) -> dict[str, Any]:
    """A pod affinity that requires one of the nodes ``names``, by node name."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": list(names)}]}
    required = {"nodeSelectorTerms": [term]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}


def relay_pod(
    name: str,
    namespace: str,
    service: str,
    port: int,
    labels: dict[str, str],
    nodes: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The relay's Pod: ``RELAY_PORT`` joined to ``service.namespace.svc:port``."""
    target = f"{service}.{namespace}.svc:{port}"
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": 1,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [
            {
                "name": "relay",
                "image": PROBE_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/probe", "relay", target, "--port", str(RELAY_PORT)],
                "ports": [{"name": "http", "containerPort": RELAY_PORT}],
                "readinessProbe": {"tcpSocket": {"port": RELAY_PORT}, "periodSeconds": 1},
                "resources": {
                    "requests": {"cpu": "50m", "memory": "32Mi"},
                    "limits": {"cpu": "1", "memory": "64Mi"},
                },
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }
    if nodes:
        spec["affinity"] = node_affinity(nodes)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels, **GATEWAY_LABELS}},
        "spec": spec,
    }


@contextlib.contextmanager
def relay(
    cluster: Cluster,
    namespace: str,
    service: str,
    port: int,
    labels: dict[str, str],
    nodes: tuple[str, ...] | None = None,
    timeout_s: float = 120.0,
) -> Iterator[str]:
    """Create the relay pod, wait until it is Ready, yield its name; delete it on exit."""
    from kubernetes.client.exceptions import ApiException

    name = f"relay-{service[:40].rstrip('-')}-{secrets.token_hex(3)}"
    cluster.core.create_namespaced_pod(
        namespace, relay_pod(name, namespace, service, port, labels, nodes)
    )
    try:

        def ready() -> bool:
            pod = cluster.core.read_namespaced_pod(name, namespace)
            conds = {c.type: c.status for c in pod.status.conditions or []}
            return conds.get("Ready") == "True"

        if poll(ready, timeout_s, 0.5) is None:
            from servegate.k8s.deploy import pod_problems

            problems = "; ".join(pod_problems(cluster, namespace)[:2]) or "no event"
            raise ClusterError(
                f"relay pod {namespace}/{name} not Ready after {timeout_s:.0f}s ({problems}); "
                f"image {PROBE_IMAGE} (SERVEGATE_PROBE_IMAGE: one your nodes can pull)"
            )
        yield name
    finally:
        with contextlib.suppress(ApiException):
            cluster.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
