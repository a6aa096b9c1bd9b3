"""SG3xx: autoscalers and disruption budgets, checked against the objects they point at."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import promql_parser

from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity
from servegate.lint.rules.gpu import ranks_of_one_server
from servegate.lint.workloads import (
    CONTROLLER_PROBED_KINDS,
    PodTemplate,
    all_templates,
    as_dict,
    as_list,
    get,
    of_kind,
    pod_templates,
    same_namespace,
    selector_matches,
    serves_models,
)

HPA_DOC = "https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/"
VPA_DOC = "https://github.com/kubernetes/autoscaler/tree/master/vertical-pod-autoscaler"
PDB_DOC = "https://kubernetes.io/docs/tasks/run-application/configure-pdb/"
_NOT_SCALABLE = {"DaemonSet", "Pod", "Job", "CronJob", "Service", "ConfigMap", "Secret"}
_VPA_RESOURCES = {"cpu", "memory"}


def _target(obj: K8sObject) -> tuple[str, str, Path_] | None:
    """(kind, name, path) an autoscaler acts on; KEDA defaults the kind to Deployment."""
    if obj.kind == "HorizontalPodAutoscaler":
        path: Path_ = ("spec", "scaleTargetRef")
        default_kind = ""
    elif obj.kind == "VerticalPodAutoscaler":
        path, default_kind = ("spec", "targetRef"), ""
    elif obj.kind == "ScaledObject":
        path, default_kind = ("spec", "scaleTargetRef"), "Deployment"
    else:
        return None
    ref = get(obj.doc, *path)
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
        return None
    return str(ref.get("kind") or default_kind), ref["name"], path


def _targets(objects: Iterable[K8sObject]) -> Iterator[tuple[K8sObject, str, str, Path_]]:
    """(autoscaler, target kind, target name, path of the reference) for every autoscaler."""
    for obj in objects:
        target = _target(obj)
        if target is not None:
            yield obj, *target


def _horizontal_targets(
    objects: Sequence[K8sObject],
) -> Iterator[tuple[K8sObject, str, str, Path_]]:
    """:func:`_targets` of the autoscalers that change replica counts (HPA, KEDA)."""
    return (t for t in _targets(objects) if t[0].kind != "VerticalPodAutoscaler")


def _resolve(
    obj: K8sObject, objects: Sequence[K8sObject], kind: str, name: str
) -> K8sObject | None:
    for other in objects:
        if other.kind == kind and other.name == name and same_namespace(obj, other):
            return other
    return None


def _same_named(obj: K8sObject, objects: Sequence[K8sObject], name: str) -> list[K8sObject]:
    return [
        o
        for o in objects
        if o.name == name and same_namespace(obj, o) and o is not obj and pod_templates_exist(o)
    ]


def pod_templates_exist(obj: K8sObject) -> bool:
    return any(True for _ in pod_templates(obj))


@REGISTRY.rule("SG301", "scale-target-not-found", Severity.WARNING, HPA_DOC)
def target_not_found(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An HPA, VPA or KEDA ScaledObject whose target is not among the linted objects, where those
    objects define workloads in its namespace (an autoscaler linted without any workload is taken
    to scale one made elsewhere, such as by a Helm chart).

    An autoscaler whose target does not exist does nothing and reports no error that anyone reads;
    the workload then runs at its static replica count under load.

    Fix: Point scaleTargetRef/targetRef at the workload's kind and name (lint the workload together
    with its autoscaler, or suppress if the target lives elsewhere).
    """
    for obj, kind, name, path in _targets(objects):
        if not any(same_namespace(obj, o) and pod_templates_exist(o) for o in objects):
            continue  # nothing to scale here: the target is defined elsewhere
        if _resolve(obj, objects, kind, name) is None and not _same_named(obj, objects, name):
            yield Hit(obj, f"target {kind}/{name} is not in the linted set", path)


@REGISTRY.rule("SG302", "scale-target-wrong-kind", Severity.ERROR, HPA_DOC)
def target_wrong_kind(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An autoscaler aimed at a kind the named workload is not (e.g. Deployment vs StatefulSet), or
    at a kind that cannot scale.

    The HPA controller looks the target up by kind and name; a StatefulSet named like the Deployment
    in scaleTargetRef is never found, and DaemonSets, Jobs and Pods have no scale subresource
    (Kubernetes docs 'Horizontal Pod Autoscaling').

    Fix: Set scaleTargetRef.kind (and apiVersion) to the workload's real kind.
    """
    for obj, kind, name, path in _targets(objects):
        resolved = _resolve(obj, objects, kind, name)
        if resolved is None:
            others = _same_named(obj, objects, name)
            if others:
                yield Hit(
                    obj,
                    f"target {kind}/{name} does not exist, but {others[0].kind}/{name} does",
                    (*path, "kind"),
                )
        elif obj.kind != "VerticalPodAutoscaler" and kind in _NOT_SCALABLE:
            yield Hit(obj, f"target {kind}/{name} cannot be scaled horizontally", (*path, "kind"))


def _container_names(target: K8sObject) -> set[str]:
    return {
        str(c.get("name"))
        for template in pod_templates(target)
        for _, c in template.containers(init=True)
    }


def _container_policies(vpa: K8sObject) -> list[tuple[int, dict[str, Any]]]:
    policies = get(vpa.doc, "spec", "resourcePolicy", "containerPolicies")
    return [(i, p) for i, p in enumerate(as_list(policies)) if isinstance(p, dict)]


_POLICIES: Path_ = ("spec", "resourcePolicy", "containerPolicies")


@REGISTRY.rule("SG303", "vpa-container-not-found", Severity.ERROR, VPA_DOC)
def vpa_container(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A VPA containerPolicies entry naming a container the target does not have.

    A policy for a missing container is silently ignored, so its minAllowed/maxAllowed bounds never
    apply and the real container is resized without them (VPA README, 'resource policy').

    Fix: Use the container's exact name from the pod template, or '*' for all containers.
    """
    for obj, kind, target, _ in _targets(of_kind(objects, "VerticalPodAutoscaler")):
        resolved = _resolve(obj, objects, kind, target)
        if resolved is None:
            continue
        names = _container_names(resolved)
        for index, policy in _container_policies(obj):
            name = policy.get("containerName")
            if isinstance(name, str) and name != "*" and name not in names:
                yield Hit(
                    obj,
                    f"containerName {name!r} is not a container of {resolved.kind}/"
                    f"{resolved.name} (has: {', '.join(sorted(names)) or 'none'})",
                    (*_POLICIES, index, "containerName"),
                )


def _pods_in(obj: K8sObject, objects: Sequence[K8sObject]) -> list[PodTemplate]:
    return [t for t in all_templates(objects) if same_namespace(obj, t.obj)]


@REGISTRY.rule("SG304", "pdb-matches-nothing", Severity.WARNING, PDB_DOC)
def pdb_nothing(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A PodDisruptionBudget whose selector matches no pod of the linted workloads.

    A budget that selects nothing protects nothing: a node drain evicts every model replica at once
    (Kubernetes docs 'Specifying a Disruption Budget').

    Fix: Copy the workload's pod template labels into spec.selector.matchLabels.
    """
    for obj in of_kind(objects, "PodDisruptionBudget"):
        selector = get(obj.doc, "spec", "selector")
        pods = _pods_in(obj, objects)
        if not isinstance(selector, dict) or not any(
            selector_matches(selector, t.labels) for t in pods
        ):
            yield Hit(obj, "selector matches no pod of the linted workloads", ("spec", "selector"))


def _hpa_resources(obj: K8sObject) -> set[str]:
    """cpu/memory an HPA (or a KEDA ScaledObject, through its HPA) scales on."""
    found: set[str] = set()
    if obj.kind == "HorizontalPodAutoscaler":
        for metric in as_list(get(obj.doc, "spec", "metrics")):
            for key in ("resource", "containerResource"):
                name = get(metric, key, "name")
                if isinstance(name, str):
                    found.add(name)
        if get(obj.doc, "spec", "targetCPUUtilizationPercentage") is not None:
            found.add("cpu")  # autoscaling/v1
    elif obj.kind == "ScaledObject":
        for trigger in as_list(get(obj.doc, "spec", "triggers")):
            if isinstance(trigger, dict) and trigger.get("type") in ("cpu", "memory"):
                found.add(str(trigger["type"]))
    return found & _VPA_RESOURCES


def _vpa_resources(vpa: K8sObject) -> set[str]:
    if get(vpa.doc, "spec", "updatePolicy", "updateMode") == "Off":
        return set()
    policies = _container_policies(vpa)
    if not policies:
        return set(_VPA_RESOURCES)
    controlled: set[str] = set()
    for _, policy in policies:
        if policy.get("mode") == "Off":
            continue
        listed = policy.get("controlledResources")
        controlled |= {str(r) for r in listed} if isinstance(listed, list) else _VPA_RESOURCES
    return controlled


@REGISTRY.rule("SG305", "hpa-vpa-same-resource", Severity.ERROR, VPA_DOC)
def hpa_vpa_conflict(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An HPA (or KEDA cpu/memory trigger) and a VPA acting on the same resource of one workload.

    The VPA raises requests when usage is high, which lowers the utilisation the HPA sees, so the
    two fight: replicas and requests oscillate. The VPA README: do not use VPA with HPA on CPU or
    memory.

    Fix: Scale horizontally on a serving metric (queue depth, KV-cache use) or set the VPA to
    updateMode: Off / controlledResources excluding the HPA's resource.
    """
    vpas = list(_targets(of_kind(objects, "VerticalPodAutoscaler")))
    for obj, kind, name, _ in _horizontal_targets(objects):
        for vpa, vpa_kind, vpa_name, _ in vpas:
            if (vpa_kind, vpa_name) != (kind, name) or not same_namespace(obj, vpa):
                continue
            shared = _hpa_resources(obj) & _vpa_resources(vpa)
            if shared:
                yield Hit(
                    obj,
                    f"scales {kind}/{name} on {', '.join(sorted(shared))}, which "
                    f"VerticalPodAutoscaler/{vpa.name} also controls",
                    ("spec",),
                )


@REGISTRY.rule("SG306", "vpa-extended-resource", Severity.ERROR, VPA_DOC)
def vpa_extended(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A VPA policy with GPUs or other resources than cpu and memory.

    The VPA recommends and sets only cpu and memory; nvidia.com/gpu in minAllowed, maxAllowed or
    controlledResources is rejected or ignored, and GPU count is fixed by the model's
    tensor-parallel size, not by usage.

    Fix: Remove nvidia.com/gpu (and any non cpu/memory resource) from the VPA policy; size GPUs in
    the pod template.
    """
    for obj in of_kind(objects, "VerticalPodAutoscaler"):
        for index, policy in _container_policies(obj):
            for key in ("minAllowed", "maxAllowed"):
                for name in as_dict(policy.get(key)):
                    if name not in _VPA_RESOURCES:
                        yield Hit(
                            obj,
                            f"{key} sets {name}, which the VPA cannot manage",
                            (*_POLICIES, index, key, str(name)),
                        )
            for name in as_list(policy.get("controlledResources")):
                if name not in _VPA_RESOURCES:
                    yield Hit(
                        obj,
                        f"controlledResources lists {name}",
                        (*_POLICIES, index, "controlledResources"),
                    )


def _min_replicas(template: PodTemplate, objects: Sequence[K8sObject]) -> int:
    """The fewest replicas the workload runs with: its count, or its autoscaler's minimum."""
    count = template.replicas or 1
    workload = (template.obj.kind, template.obj.name)
    for obj, kind, name, _ in _horizontal_targets(objects):
        if (kind, name) == workload and same_namespace(obj, template.obj):
            key = "minReplicaCount" if obj.kind == "ScaledObject" else "minReplicas"
            value = get(obj.doc, "spec", key)
            count = value if isinstance(value, int) else 1
    return count


@REGISTRY.rule("SG307", "model-server-no-pdb", Severity.WARNING, PDB_DOC, advice=True)
def model_server_pdb(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A model server running more than one replica with no PodDisruptionBudget covering it (the
    ranks of one server spread over a StatefulSet's pods are not replicas and are not asked).

    Node drains (GPU driver and OS upgrades, cluster-autoscaler scale-down) may evict several
    replicas at once where they share a node or a drain wave; a model server then needs minutes
    to come back. Nothing fails at deploy time, which is why this is advice. A PDB makes
    voluntary disruptions go one pod at a time (Kubernetes docs 'Disruptions').

    Fix: Add a PodDisruptionBudget with maxUnavailable: 1 selecting the model server's pods.
    """
    pdbs = [o for o in objects if o.kind == "PodDisruptionBudget"]
    for template in all_templates(objects):
        if template.obj.kind in CONTROLLER_PROBED_KINDS or template.replicas is None:
            continue
        if not serves_models(template) or _min_replicas(template, objects) < 2:
            continue
        if ranks_of_one_server(template):
            continue
        covered = any(
            same_namespace(pdb, template.obj)
            and isinstance(get(pdb.doc, "spec", "selector"), dict)
            and selector_matches(get(pdb.doc, "spec", "selector"), template.labels)
            for pdb in pdbs
        )
        if not covered:
            yield Hit(template.obj, "multi-replica model server has no PodDisruptionBudget", ())


@REGISTRY.rule("SG308", "pdb-blocks-drain", Severity.WARNING, PDB_DOC)
def pdb_blocks(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A PodDisruptionBudget that allows no eviction at all (maxUnavailable 0, or minAvailable at
    least the replica count).

    A budget that never allows a disruption blocks kubectl drain forever, so GPU nodes cannot be
    upgraded or scaled down (Kubernetes docs 'Specifying a Disruption Budget').

    Fix: Use maxUnavailable: 1, or keep minAvailable below the replica count.
    """
    for obj in of_kind(objects, "PodDisruptionBudget"):
        spec = as_dict(obj.doc.get("spec"))
        if spec.get("maxUnavailable") in (0, "0", "0%"):
            yield Hit(obj, "maxUnavailable 0 never allows an eviction", ("spec", "maxUnavailable"))
            continue
        wanted = spec.get("minAvailable")
        selector = spec.get("selector")
        if wanted == "100%":
            yield Hit(obj, "minAvailable 100% never allows an eviction", ("spec", "minAvailable"))
            continue
        if not isinstance(wanted, int) or not isinstance(selector, dict):
            continue
        matched = [t for t in _pods_in(obj, objects) if selector_matches(selector, t.labels)]
        if matched and all(t.replicas is not None for t in matched):
            total = sum(_min_replicas(t, objects) for t in matched)
            if wanted >= total:
                yield Hit(
                    obj,
                    f"minAvailable {wanted} with {total} replica(s) never allows an eviction",
                    ("spec", "minAvailable"),
                )


ROLLOUT_DOC = "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-update-deployment"


def _int_or_percent(value: Any, total: int, default: str, round_up: bool) -> int | None:
    """A RollingUpdate bound: an int, or a percentage of ``total`` (maxUnavailable rounds
    down, maxSurge up, as the Deployment controller does); None if unreadable."""
    value = default if value is None else value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        share = int(value[:-1]) * total
        return -(-share // 100) if round_up else share // 100
    return None


@REGISTRY.rule("SG310", "rollout-leaves-nothing-serving", Severity.WARNING, ROLLOUT_DOC)
def rollout_downtime(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A model-server Deployment whose RollingUpdate may take down every replica before a new
    one is ready: its maxUnavailable is at least the fewest replicas it runs with (its count,
    or its autoscaler's minimum). Strategy Recreate is not reported: it says so in the open,
    usually to update a one-GPU server without a second GPU.

    The Deployment controller keeps at least replicas - maxUnavailable pods available during a
    rollout (Kubernetes docs 'Rolling Update Deployment'); at zero, every image or model
    update drops all requests until the new pod has loaded its weights, which for an LLM takes
    minutes. One replica with maxSurge 0 / maxUnavailable 1 is the common form.

    Fix: Use maxSurge: 1 and maxUnavailable: 0 (the surge pod needs a spare GPU while the
    rollout runs; without one the rollout waits instead of serving nothing), or run more
    replicas than maxUnavailable.
    """
    for template in all_templates(objects):
        obj = template.obj
        if obj.kind != "Deployment" or not serves_models(template):
            continue
        strategy = as_dict(get(obj.doc, "spec", "strategy"))
        if strategy.get("type") == "Recreate":
            continue
        replicas = _min_replicas(template, objects)
        rolling = as_dict(strategy.get("rollingUpdate"))
        unavailable = _int_or_percent(rolling.get("maxUnavailable"), replicas, "25%", False)
        surge = _int_or_percent(rolling.get("maxSurge"), replicas, "25%", True)
        if unavailable is None or surge is None:
            continue
        if surge == 0 and unavailable == 0:
            unavailable = 1  # the API refuses both at 0; the controller would then use 1
        if replicas > 0 and unavailable >= replicas:
            path: Path_ = ("spec", "strategy", "rollingUpdate", "maxUnavailable")
            yield Hit(
                obj,
                f"maxUnavailable {unavailable} with {replicas} replica(s) lets an update take "
                "every replica down before a new one is ready",
                path if "maxUnavailable" in rolling else ("spec", "strategy"),
            )


# -- KEDA Prometheus queries -----------------------------------------------------------------

_SINGLE_FUNCTIONS = {"scalar", "vector", "time", "pi", "absent", "absent_over_time"}
# Labels whose grouping keeps one series per pod (or per scraped target).
_PER_POD_LABELS = {
    "pod", "pod_name", "kubernetes_pod_name", "instance", "container", "container_name",
    "exported_pod",
}  # fmt: skip

ONE, UNKNOWN = "one", "unknown"  # else: a reason why the query returns many series
_NOT_AGGREGATED = "one series per scraped pod or target (no aggregation around the metric)"


def query_series(query: str) -> str:
    """How many series a PromQL query returns: ``ONE``, ``UNKNOWN`` (also for a query the
    parser does not read), or the reason it returns one per pod or target."""
    try:
        expr = promql_parser.parse(query)
    except ValueError:
        return UNKNOWN
    return _series(expr, frozenset())


def _series(expr: promql_parser.Expr, ignore: frozenset[str]) -> str:
    """:func:`query_series` of a parsed expression; ``ignore``: grouping labels an outer
    function consumes (``le`` inside histogram_quantile)."""
    if isinstance(expr, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return _series(expr.expr, ignore)
    if isinstance(expr, promql_parser.SubqueryExpr):
        return _series(expr.expr, ignore)
    if isinstance(expr, promql_parser.NumberLiteral):
        return ONE
    if isinstance(expr, promql_parser.VectorSelector | promql_parser.MatrixSelector):
        return _NOT_AGGREGATED
    if isinstance(expr, promql_parser.BinaryExpr):
        # Scalars aside, the operands all return one series or all one per pod; a mix matches
        # on labels in ways not worth guessing.
        operands = [
            e for e in (expr.lhs, expr.rhs) if not isinstance(e, promql_parser.NumberLiteral)
        ]
        results = [_series(e, ignore) for e in operands]
        if all(r == ONE for r in results):
            return ONE
        many = [r for r in results if r not in (ONE, UNKNOWN)]
        return many[0] if len(many) == len(results) else UNKNOWN
    if isinstance(expr, promql_parser.AggregateExpr):
        return _aggregated(expr, ignore)
    if isinstance(expr, promql_parser.Call):
        name = expr.func.name
        if name in _SINGLE_FUNCTIONS:
            return ONE
        if name == "histogram_quantile" and len(expr.args) == 2:
            return _series(expr.args[1], ignore | {"le"})
        vectors = [
            a
            for a in expr.args
            if not isinstance(a, promql_parser.NumberLiteral | promql_parser.StringLiteral)
        ]
        return _series(vectors[0], ignore) if vectors else UNKNOWN
    return UNKNOWN


def _aggregated(expr: promql_parser.AggregateExpr, ignore: frozenset[str]) -> str:
    name = str(expr.op)
    param = expr.param
    if name in ("topk", "bottomk", "limitk"):
        count = param.val if isinstance(param, promql_parser.NumberLiteral) else None
        if count != 1:
            return f"up to {count:g} series ({name})" if count else f"several series ({name})"
    if name == "count_values":
        return "one series per distinct value (count_values)"
    modifier = expr.modifier
    if modifier is None:
        return ONE
    if modifier.type == promql_parser.AggModifierType.Without:
        return UNKNOWN
    labels = set(modifier.labels) - ignore
    per_pod = sorted(labels & _PER_POD_LABELS)
    if per_pod:
        return f"one series per {per_pod[0]} (by ({', '.join(sorted(labels))}))"
    return ONE if not labels else UNKNOWN


@REGISTRY.rule(
    "SG309",
    "keda-query-per-pod",
    Severity.WARNING,
    "https://keda.sh/docs/latest/scalers/prometheus/",
)
def keda_query(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A KEDA prometheus trigger whose query returns one series per pod: no aggregation (sum,
    avg, max, ...) around the metric, or an aggregation by (pod).

    KEDA's Prometheus scaler needs the query to return a single element; with several it fails
    ('prometheus query ... returned multiple elements'), the HPA gets no metric and the workload
    stays at its replica count while the queue grows (KEDA docs, Prometheus scaler: 'query must
    return a vector/scalar single element response').

    Fix: Aggregate across pods: sum(vllm:num_requests_waiting{model_name="..."}) or
    avg(...) for a per-replica target, without by (pod).
    """
    for obj in objects:
        if obj.kind not in ("ScaledObject", "ScaledJob"):
            continue
        for index, trigger in enumerate(as_list(get(obj.doc, "spec", "triggers"))):
            if as_dict(trigger).get("type") != "prometheus":
                continue
            query = get(trigger, "metadata", "query")
            if not isinstance(query, str) or "{{" in query:
                continue
            verdict = query_series(query)
            if verdict not in (ONE, UNKNOWN):
                yield Hit(
                    obj,
                    f"prometheus trigger {index} query returns {verdict}; KEDA needs one value",
                    ("spec", "triggers", index, "metadata", "query"),
                )
