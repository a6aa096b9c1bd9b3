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


def holding_image(image: str, nodes: list[dict[str, Any]]) -> list[str]:
    """Names of the nodes (as dicts) whose kubelet reports ``image`` (a full reference,
    ``registry/name:tag``) among the images in its runtime (``status.images``).

    The kubelet reports at most its 50 largest images by default (``nodeStatusMaxImages``),
    so a small image can be present and unlisted; a large one, such as a Ray image, is listed.
    """
    out = []
    for node in nodes:
        images = (node.get("status") or {}).get("images") or []
        if any(image in (i.get("names") or []) for i in images):
            out.append(str(node["metadata"]["name"]))
    return out


def nodes_among(cluster: Any, names: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """The nodes of ``cluster`` (a :class:`servegate.k8s.client.Cluster`) as dicts, only
    those named ``names`` (None: every node), such as a handle's ``container_nodes``."""
    as_dict = cluster.api_client.sanitize_for_serialization
    nodes = [as_dict(n) for n in cluster.core.list_node().items]
    return [n for n in nodes if names is None or n["metadata"]["name"] in names]


def _ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def expression_holds(expr: dict[str, Any], value: str | None) -> bool:
    """Whether a node-selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt) holds
    for a node whose label (or field) has ``value`` (None: absent)."""
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def admits(pod_spec: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether ``node`` (a Node as a dict) satisfies the pod spec's ``nodeSelector`` and its
    required node affinity (terms ORed, expressions ANDed; ``matchFields`` on
    ``metadata.name``), as the scheduler reads them. Taints and resources are not judged."""
    meta = node.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    if any(labels.get(k) != str(v) for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True

    def term_holds(term: dict[str, Any]) -> bool:
        exprs = term.get("matchExpressions") or []
        fields = term.get("matchFields") or []
        if not exprs and not fields:
            return False  # an empty term matches no node
        by_label = all(expression_holds(e, labels.get(str(e.get("key")))) for e in exprs)
        name = str(meta.get("name", ""))
        by_field = all(
            e.get("key") == "metadata.name" and expression_holds(e, name) for e in fields
        )
        return by_label and by_field

    return any(term_holds(t) for t in terms)


def unplaceable(objects: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> str | None:
    """Why a workload among ``objects`` (Deployments, StatefulSets) has no node among
    ``nodes`` (those that run containers) that its placement admits, or None."""
    for o in objects:
        if o.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        spec = ((o.get("spec") or {}).get("template") or {}).get("spec") or {}
        if not any(admits(spec, n) for n in nodes):
            names = ", ".join(str((n.get("metadata") or {}).get("name")) for n in nodes)
            return (
                f"no node that runs containers ({names or 'none'}) admits"
                f" {o['kind']}/{o['metadata']['name']}'s placement: {placement_text(spec)}"
            )
    return None


def placement_text(pod_spec: dict[str, Any]) -> str:
    """The pod spec's nodeSelector and required node-affinity expressions, in one line."""
    parts = [f"{k}={v}" for k, v in (pod_spec.get("nodeSelector") or {}).items()]
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for e in term.get("matchExpressions") or []:
            vals = ",".join(str(v) for v in e.get("values") or [])
            parts.append(
                f"{e.get('key')} {e.get('operator')} [{vals}]"
                if vals
                else f"{e.get('key')} {e.get('operator')}"
            )
    return "; ".join(parts) or "none"


GPU = "nvidia.com/gpu"


def _count(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def pod_gpus(pod_spec: dict[str, Any], resource: str = GPU) -> int:
    """Units of ``resource`` a pod spec holds: its containers' limits (requests where no
    limit is set; extended resources have equal requests and limits), or its largest init
    container's if that is more."""

    def held(c: dict[str, Any]) -> int:
        res = c.get("resources") or {}
        return _count(
            (res.get("limits") or {}).get(resource, (res.get("requests") or {}).get(resource, 0))
        )

    main = sum(held(c) for c in pod_spec.get("containers") or [])
    init = max((held(c) for c in pod_spec.get("initContainers") or []), default=0)
    return max(main, init)


def gpu_headroom(
    nodes: list[dict[str, Any]], pods: list[dict[str, Any]], resource: str = GPU
) -> dict[str, int]:
    """Free units of ``resource`` on each node (as dicts): allocatable less what the pods
    bound to it hold, leaving out pods that finished or are being deleted (their units are
    about to be free)."""
    free = {
        str(n["metadata"]["name"]): _count(
            ((n.get("status") or {}).get("allocatable") or {}).get(resource, 0)
        )
        for n in nodes
    }
    for p in pods:
        node = (p.get("spec") or {}).get("nodeName")
        phase = (p.get("status") or {}).get("phase")
        leaving = (p.get("metadata") or {}).get("deletionTimestamp")
        if node in free and phase not in ("Succeeded", "Failed") and not leaving:
            free[node] -= pod_gpus(p["spec"], resource)
    return free


def pods_that_fit(headroom: dict[str, int], per_pod: int) -> int:
    """How many pods holding ``per_pod`` (at least 1) units each the free units place, node
    by node."""
    return sum(max(0, free) // per_pod for free in headroom.values())
