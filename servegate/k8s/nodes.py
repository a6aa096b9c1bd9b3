"""Which nodes run containers: the real-node/simulated-node distinction, named once.

The local cluster labels its one container-running node ``servegate.io/node=real``; its kwok
nodes (the simulated GPU fleet) report pods Ready without running them. A check that sends
traffic or reads a container's view needs its pods on a real node.
"""

from __future__ import annotations

from typing import Any

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
