"""The Assess step of the operator checks, as pure functions over API objects (dicts).

Each returns the failures as sentences (empty: pass), so tests/unit/operators can feed them
deliberately broken objects and show that every check can fail with a message naming what is
wrong and where.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from servegate.k8s.nodes import is_simulated

Obj = dict[str, Any]

GPU = "nvidia.com/gpu"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"


def name(o: Obj) -> str:
    return str(o.get("metadata", {}).get("name", "?"))


def condition(o: Obj, kind: str) -> Obj | None:
    for c in o.get("status", {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def owned_by(o: Obj, owner: Obj) -> bool:
    uid = owner.get("metadata", {}).get("uid")
    refs = o.get("metadata", {}).get("ownerReferences") or []
    return uid is not None and any(r.get("uid") == uid for r in refs)


def gpus(container: Obj, which: str = "requests") -> Decimal:
    raw = (container.get("resources") or {}).get(which, {}).get(GPU, "0")
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        return Decimal(-1)


@dataclass(frozen=True)
class Admission:
    """What the API server answered to one object, dry-run or for real."""

    kind: str
    name: str
    mode: str  # "dry-run" or "create"
    accepted: bool
    status: int | None = None
    message: str = ""


def assess_accepted(outcomes: list[Admission]) -> list[str]:
    """Every reference object is accepted (strict field validation: no field dropped)."""
    return [
        f"{o.kind}/{o.name} refused on {o.mode}: HTTP {o.status}: {o.message}"
        for o in outcomes
        if not o.accepted
    ]


def assess_rejected(outcome: Admission, field: str) -> list[str]:
    """A deliberately broken object is refused (422/400) with a message naming ``field``."""
    if outcome.accepted:
        return [f"{outcome.kind}/{outcome.name} with a broken {field} was accepted"]
    out = []
    if outcome.status not in (400, 422):
        out.append(f"{outcome.kind}/{outcome.name} refused with HTTP {outcome.status}, not 422")
    if field not in outcome.message:
        out.append(
            f"refusal of {outcome.kind}/{outcome.name} does not name {field}: {outcome.message!r}"
        )
    return out


Path = tuple[str | int, ...]


def _leaves(value: Any, path: Path) -> list[tuple[Path, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, str(k)))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return [(path, value)]


def _at(obj: Any, path: Path) -> Any:
    """The value at ``path`` (keys and list indices), or ``_ABSENT``."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or step >= len(obj):
                return _ABSENT
        elif not isinstance(obj, dict) or step not in obj:
            return _ABSENT
        obj = obj[step]
    return obj


def _shown(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)[1:]


_ABSENT = object()


def assess_stored(manifest: Obj, stored: Obj) -> list[str]:
    """Every field of the manifest's spec was stored as written: none pruned by the CRD's
    structural schema, none rewritten (defaults the server adds are allowed)."""
    out: list[str] = []
    where = f"{manifest.get('kind')}/{name(manifest)}"
    for path, want in _leaves(manifest.get("spec", {}), ("spec",)):
        got = _at(stored, path)
        if got is _ABSENT:
            out.append(
                f"{where}: {_shown(path)} was dropped by the API server (not in the CRD schema)"
            )
        elif str(got) != str(want):
            out.append(f"{where}: {_shown(path)} stored as {got!r}, manifest has {want!r}")
    return out


def _containers(pod_spec: Obj) -> dict[str, Obj]:
    return {str(c.get("name")): c for c in pod_spec.get("containers") or []}


def _gpu_mismatch(where: str, wanted: Obj, got: Obj) -> list[str]:
    out = []
    for which in ("requests", "limits"):
        if gpus(wanted, which) != gpus(got, which):
            out.append(
                f"{where}: {GPU} {which} {gpus(got, which)} but the manifest asks "
                f"{gpus(wanted, which)}"
            )
    return out


def assess_inferenceservice(
    manifest: Obj,
    isvc: Obj,
    deployments: list[Obj],
    services: list[Obj],
    pods: list[Obj],
    nodes: list[Obj],
    scaledobjects: list[Obj] | None = None,
) -> list[str]:
    """KServe reconciled ``isvc`` (RawDeployment): Ready, its predictor Deployment and Service
    exist and are owned by it (and the KEDA ScaledObject when the manifest asks for KEDA), and
    its pods run, on the real node, with the manifest's GPUs."""
    out: list[str] = []
    isvc_name = name(isvc)
    ready = condition(isvc, "Ready")
    if ready is None or ready.get("status") != "True":
        why = f"{ready.get('reason')}: {ready.get('message')}" if ready else "no Ready condition"
        out.append(f"InferenceService {isvc_name} is not Ready ({why})")
    predictor = f"{isvc_name}-predictor"
    dep = next((d for d in deployments if name(d) == predictor), None)
    if dep is None:
        out.append(f"no Deployment {predictor}: the controller did not create the predictor")
    elif not owned_by(dep, isvc):
        out.append(f"Deployment {predictor} is not owned by InferenceService {isvc_name}")
    svc = next((s for s in services if name(s) == predictor), None)
    if svc is None:
        out.append(f"no Service {predictor} in front of the predictor")
    elif svc.get("spec", {}).get("clusterIP") in (None, "", "None"):
        out.append(f"Service {predictor} has no ClusterIP")
    out += _autoscaler_failures(manifest, isvc, predictor, scaledobjects)
    mine = [p for p in pods if p.get("metadata", {}).get("labels", {}).get(ISVC_LABEL) == isvc_name]
    if not mine:
        out.append(f"no pod labelled {ISVC_LABEL}={isvc_name}")
    wanted = _containers(manifest.get("spec", {}).get("predictor", {}))
    by_node = {name(n): n for n in nodes}
    for pod in mine:
        out += _pod_failures(pod, wanted, by_node, require_real=True)
    return out


def _autoscaler_failures(
    manifest: Obj, isvc: Obj, predictor: str, scaledobjects: list[Obj] | None
) -> list[str]:
    annots = manifest.get("metadata", {}).get("annotations") or {}
    if annots.get(AUTOSCALER_CLASS) != "keda" or scaledobjects is None:
        return []
    so = next((o for o in scaledobjects if name(o) == predictor), None)
    if so is None:
        return [f"no ScaledObject {predictor}, though the manifest sets {AUTOSCALER_CLASS}=keda"]
    out = []
    if not owned_by(so, isvc):
        out.append(f"ScaledObject {predictor} is not owned by InferenceService {name(isvc)}")
    target = so.get("spec", {}).get("scaleTargetRef", {}).get("name")
    if target != predictor:
        out.append(f"ScaledObject {predictor} scales {target!r}, not Deployment {predictor}")
    return out


def _pod_failures(
    pod: Obj, wanted: dict[str, Obj], nodes: dict[str, Obj], require_real: bool
) -> list[str]:
    out: list[str] = []
    where = f"pod {name(pod)}"
    node = pod.get("spec", {}).get("nodeName")
    if not node:
        return [f"{where} is not scheduled"]
    if require_real:
        if node not in nodes or is_simulated(nodes[node]):
            out.append(f"{where} runs on {node}, a simulated node (its containers never run)")
        if pod.get("status", {}).get("phase") != "Running":
            out.append(f"{where} is {pod.get('status', {}).get('phase')}, not Running")
    got = _containers(pod.get("spec", {}))
    for cname, want in wanted.items():
        if cname not in got:
            out.append(f"{where} has no container {cname}")
            continue
        out += _gpu_mismatch(f"{where} container {cname}", want, got[cname])
    return out


def assess_rayservice(
    manifest: Obj, rayservice: Obj, clusters: list[Obj], services: list[Obj], pods: list[Obj]
) -> list[str]:
    """KubeRay turned ``rayservice`` into one RayCluster with a head Service, one head pod and
    the manifest's worker replicas, each worker with the manifest's GPU request."""
    out: list[str] = []
    rs_name = name(rayservice)
    owned = [c for c in clusters if owned_by(c, rayservice)]
    if len(owned) != 1:
        return [f"RayService {rs_name} owns {len(owned)} RayClusters, expected 1"]
    rc = owned[0]
    rc_name = name(rc)
    spec = manifest.get("spec", {}).get("rayClusterConfig", {})
    if not any(
        owned_by(s, rc)
        and s.get("metadata", {}).get("labels", {}).get("ray.io/node-type") == "head"
        for s in services
    ):
        out.append(f"no head Service owned by RayCluster {rc_name}")
    in_rc = [
        p for p in pods if p.get("metadata", {}).get("labels", {}).get("ray.io/cluster") == rc_name
    ]
    heads = [p for p in in_rc if _node_type(p) == "head"]
    if len(heads) != 1:
        out.append(f"RayCluster {rc_name} has {len(heads)} head pods, expected 1")
    head_want = _containers(spec.get("headGroupSpec", {}).get("template", {}).get("spec", {}))
    for pod in heads:
        out += _pod_failures(pod, head_want, {}, require_real=False)
    for group in spec.get("workerGroupSpecs") or []:
        gname = group.get("groupName")
        want_n = int(group.get("replicas", group.get("minReplicas", 0)))
        workers = [
            p
            for p in in_rc
            if _node_type(p) == "worker"
            and p.get("metadata", {}).get("labels", {}).get("ray.io/group") == gname
        ]
        if len(workers) != want_n:
            out.append(f"worker group {gname}: {len(workers)} pods, manifest asks {want_n}")
        want = _containers(group.get("template", {}).get("spec", {}))
        for pod in workers:
            out += _pod_failures(pod, want, {}, require_real=False)
    return out


def _node_type(pod: Obj) -> str | None:
    value = pod.get("metadata", {}).get("labels", {}).get("ray.io/node-type")
    return None if value is None else str(value)


__all__ = [
    "Admission",
    "assess_accepted",
    "assess_inferenceservice",
    "assess_rayservice",
    "assess_rejected",
    "assess_stored",
]
