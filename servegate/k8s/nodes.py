"""Which nodes run containers: the real-node/simulated-node distinction, named once.

The local cluster labels its one container-running node ``servegate.io/node=real``; its kwok
nodes (the simulated GPU fleet) report pods Ready without running them. A check that sends
traffic or reads a container's view needs its pods on a real node.

On a cluster servegate did not make, nothing of that is assumed: simulated nodes are the ones
kwok marks as its own (the ``kwok.x-k8s.io/node: fake`` annotation, kwok's convention), and
:func:`container_nodes` reads from the API which nodes run containers.
"""

from __future__ import annotations

from typing import Any

SIMULATED_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
"""kwok's mark on the nodes it simulates (they run no container)."""

REAL_NODE_LABEL = "servegate.io/node"
REAL_NODE_VALUE = "real"
REAL_NODE_SELECTOR = f"{REAL_NODE_LABEL}={REAL_NODE_VALUE}"
"""The label selector string (``kubectl -l``, ``list_node(label_selector=...)``)."""


def real_node_selector() -> dict[str, str]:
    """A pod ``nodeSelector`` that places the pod on a real node."""
    return {REAL_NODE_LABEL: REAL_NODE_VALUE}


def is_real_node(node: dict[str, Any]) -> bool:
    """True for a node object (as a dict) that carries the real-node label."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return labels.get(REAL_NODE_LABEL) == REAL_NODE_VALUE


def is_simulated(node: dict[str, Any]) -> bool:
    """True for a node (as a dict) that kwok simulates: pods on it never run."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    key, value = SIMULATED_ANNOTATION
    return annotations.get(key) == value


def container_nodes(api_client: Any) -> tuple[str, ...] | None:
    """Names of the nodes that run containers (Ready, schedulable, not simulated) when the
    cluster also has simulated nodes; None when every node runs containers (nothing to pin)."""
    from kubernetes import client

    items = client.CoreV1Api(api_client).list_node().items
    nodes = [api_client.sanitize_for_serialization(n) for n in items]
    if not any(is_simulated(n) for n in nodes):
        return None
    return tuple(
        sorted(
            n["metadata"]["name"]
            for n in nodes
            if not is_simulated(n) and _ready(n) and not (n.get("spec") or {}).get("unschedulable")
        )
    )


def _ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
