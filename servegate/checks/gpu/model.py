"""How GPU nodes and GPU pods are read from API objects (plain dicts, as the API serves them).

Shared by the setup code and the assess functions, so that a check and the objects it judges
agree on what "a GPU node", "a spot node" or "what a pod requests" means. Pure: no client.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from servegate.config.fleet import KWOK_ANNOTATION
from servegate.k8s.nodes import expression_holds

Obj = dict[str, Any]

GPU = "nvidia.com/gpu"
SHARED = "nvidia.com/gpu.shared"  # time-sliced replicas when the device plugin renames them
MIG_PREFIX = "nvidia.com/mig-"
PRESENT = "nvidia.com/gpu.present"
PRODUCT = "nvidia.com/gpu.product"
COUNT = "nvidia.com/gpu.count"
MEMORY = "nvidia.com/gpu.memory"
FAMILY = "nvidia.com/gpu.family"
REPLICAS = "nvidia.com/gpu.replicas"
SHARING = "nvidia.com/gpu.sharing-strategy"
MIG_STRATEGY = "nvidia.com/mig.strategy"
HOSTNAME = "kubernetes.io/hostname"
POOL = "servegate.dev/pool"

# What a scenario pod is meant to get; the assess functions judge placement against these.
EXPECT_PRODUCTS = "gpu.servegate.dev/expect-products"  # comma-separated products
EXPECT_SHARING = "gpu.servegate.dev/expect-sharing"  # exclusive | mig | time-slicing
EXPECT_SPOT = "gpu.servegate.dev/expect-spot"  # never | required
ASPECT = "gpu.servegate.dev/aspect"  # which check the pod serves

# Labels clouds and provisioners put on spot/preemptible capacity.
SPOT_LABELS = {
    "kubernetes.io/lifecycle": "spot",
    "karpenter.sh/capacity-type": "spot",
    "eks.amazonaws.com/capacityType": "SPOT",
    "cloud.google.com/gke-spot": "true",
}
_TERMINAL = ("Succeeded", "Failed")


def is_gpu_resource(name: str) -> bool:
    return name in (GPU, SHARED) or name.startswith(MIG_PREFIX)


def quantity(value: Any) -> Decimal:
    """A Kubernetes quantity as a number; garbage raises ValueError naming the value."""
    from kubernetes.utils.quantity import parse_quantity

    try:
        return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, InvalidOperation):
        raise ValueError(f"{value!r} is not a quantity") from None


def gpu_amounts(resources: dict[str, Any] | None) -> dict[str, Decimal]:
    return {k: quantity(v) for k, v in (resources or {}).items() if is_gpu_resource(k)}


def name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def labels(obj: Obj) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("labels") or {})


def annots(obj: Obj) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("annotations") or {})


def allocatable(node: Obj) -> dict[str, Decimal]:
    return gpu_amounts(node.get("status", {}).get("allocatable"))


def is_gpu_node(node: Obj) -> bool:
    if labels(node).get(PRESENT) == "true":
        return True
    try:
        return any(v > 0 for v in allocatable(node).values())
    except ValueError:
        return True  # a GPU resource with a garbage amount: let check 1 report it


def sharing(node: Obj) -> str:
    """exclusive, mig or time-slicing, as GPU feature discovery labels it."""
    lab = labels(node)
    if MIG_STRATEGY in lab or any(k.startswith(MIG_PREFIX) for k in allocatable(node)):
        return "mig"
    if lab.get(SHARING) == "time-slicing" or int(lab.get(REPLICAS, "1") or 1) > 1:
        return "time-slicing"
    return "exclusive"


def time_sliced(node: Obj) -> bool:
    lab = labels(node)
    replicas = lab.get(REPLICAS, "1")
    return lab.get(SHARING) == "time-slicing" or (replicas.isdigit() and int(replicas) > 1)


def modes(node: Obj) -> set[str]:
    """Every way a node hands out GPUs; a simulated node may offer several at once."""
    alloc, out = allocatable(node), set()
    if MIG_STRATEGY in labels(node) or any(k.startswith(MIG_PREFIX) for k in alloc):
        out.add("mig")
    if time_sliced(node):
        out.add("time-slicing")
    if alloc.get(GPU, 0) > 0 and (SHARED in alloc or not time_sliced(node)):
        out.add("exclusive")
    return out


def is_simulated(node: Obj) -> bool:
    """A kwok node of a simulated fleet: it runs (pretends to run) whatever is bound to it."""
    key, value = KWOK_ANNOTATION
    return annots(node).get(key) == value


def is_spot(node: Obj) -> bool:
    lab = labels(node)
    if any(lab.get(k) == v for k, v in SPOT_LABELS.items()):
        return True
    return any(t.get("key") == "spot" for t in node.get("spec", {}).get("taints") or [])


def hard_taints(node: Obj) -> list[Obj]:
    taints = node.get("spec", {}).get("taints") or []
    return [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]


def missing_gpu_reason(nodes: list[Obj]) -> str | None:
    """Why the GPU checks cannot run here, or None when at least one GPU node exists."""
    if any(is_gpu_node(n) for n in nodes):
        return None
    return (
        f"no GPU node: none of the {len(nodes)} nodes carries {PRESENT}=true or advertises "
        f"{GPU} / {MIG_PREFIX}* (install NVIDIA's device plugin and GPU feature discovery, "
        "or use the local cluster's simulated fleet)"
    )


def node_name_of(pod: Obj) -> str | None:
    value = pod.get("spec", {}).get("nodeName")
    return str(value) if value else None


def is_active(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") not in _TERMINAL


def pod_requests(pod: Obj, field: str = "requests") -> dict[str, Decimal]:
    """GPU requests (or limits) of a pod: containers summed, init containers at their max."""
    spec = pod.get("spec", {})
    total: dict[str, Decimal] = {}
    for c in spec.get("containers") or []:
        for k, v in gpu_amounts((c.get("resources") or {}).get(field)).items():
            total[k] = total.get(k, Decimal(0)) + v
    for c in spec.get("initContainers") or []:
        for k, v in gpu_amounts((c.get("resources") or {}).get(field)).items():
            total[k] = max(total.get(k, Decimal(0)), v)
    return total


def scheduling_message(pod: Obj) -> str:
    for c in pod.get("status", {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") != "True":
            return str(c.get("message") or c.get("reason") or "not scheduled")
    return "not scheduled yet"


def settled(pod: Obj) -> bool:
    """Bound, or judged unschedulable by the scheduler with no preemption under way."""
    if node_name_of(pod):
        return True
    if pod.get("status", {}).get("nominatedNodeName"):
        return False
    return any(
        c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
        for c in pod.get("status", {}).get("conditions") or []
    )


def selector_mismatches(pod: Obj, node: Obj) -> list[str]:
    """The pod's nodeSelector and required node affinity that ``node`` does not satisfy."""
    lab, out = labels(node), []
    for key, want in (pod.get("spec", {}).get("nodeSelector") or {}).items():
        if lab.get(key) != want:
            out.append(f"nodeSelector {key}={want} (node has {lab.get(key)!r})")
    affinity = (pod.get("spec", {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    fields = {"metadata.name": name(node)}

    def term_ok(term: Obj) -> bool:
        exprs = [(e, lab.get(e.get("key", ""))) for e in term.get("matchExpressions") or []]
        exprs += [(e, fields.get(e.get("key", ""))) for e in term.get("matchFields") or []]
        return all(expression_holds(e, v) for e, v in exprs)

    if terms and not any(term_ok(t) for t in terms):
        shown = [
            f"{e.get('key')} {e.get('operator')} {e.get('values') or ''}".rstrip()
            for t in terms
            for e in (t.get("matchExpressions") or []) + (t.get("matchFields") or [])
        ]
        out.append("required node affinity " + " | ".join(shown))
    return out


def untolerated(pod: Obj, node: Obj) -> list[str]:
    """NoSchedule/NoExecute taints of ``node`` that the pod does not tolerate."""
    tolerations = pod.get("spec", {}).get("tolerations") or []

    def tolerates(tol: Obj, taint: Obj) -> bool:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            return False
        if tol.get("operator") == "Exists":
            return not tol.get("key") or tol.get("key") == taint.get("key")
        return bool(
            tol.get("key") == taint.get("key")
            and (tol.get("value") or "") == taint.get("value", "")
        )

    return [
        f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}"
        for t in hard_taints(node)
        if not any(tolerates(tol, t) for tol in tolerations)
    ]
