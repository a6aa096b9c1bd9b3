"""SG5xx: apiVersions and kinds the cluster serves, and schema validity."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from servegate.lint.apis import ApiTable, builtin_table, crd_table, vendored_table
from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity

DEPRECATION_DOC = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"


def _table(objects: Sequence[K8sObject]) -> ApiTable:
    return builtin_table().merged(vendored_table()).merged(crd_table(objects))


@REGISTRY.rule("SG501", "api-version-not-served", Severity.ERROR, DEPRECATION_DOC)
def not_served(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A known kind under an apiVersion that does not serve it (e.g. ServiceMonitor in v1,
    HorizontalPodAutoscaler in autoscaling/v2beta2).

    The API server answers 'no matches for kind' and kubectl apply fails for the whole file; removed
    versions (autoscaling/v2beta2 since Kubernetes 1.26, policy/v1beta1 since 1.25) break manifests
    on upgrade (Kubernetes deprecated API migration guide).

    Fix: Use the apiVersion given in the message.
    """
    table = _table(objects)
    for obj in objects:
        versions = table.served.get(obj.kind)
        if versions and obj.api_version and obj.api_version not in versions:
            use = " or ".join(sorted(versions))
            yield Hit(
                obj, f"{obj.kind} is not served as {obj.api_version}; use {use}", ("apiVersion",)
            )


@REGISTRY.rule("SG502", "api-version-deprecated", Severity.WARNING, DEPRECATION_DOC)
def deprecated(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A kind under a deprecated apiVersion (e.g. RayService in ray.io/v1alpha1).

    Deprecated versions are removed by a later operator or Kubernetes release; KubeRay deprecated
    ray.io/v1alpha1 when ray.io/v1 became stable (KubeRay 1.0) and its fields (serveConfig v1) are
    gone from v1.

    Fix: Move to the replacement apiVersion named in the message and update changed fields.
    """
    table = _table(objects)
    for obj in objects:
        replacement = table.deprecated.get((obj.api_version, obj.kind))
        if replacement:
            yield Hit(
                obj,
                f"{obj.api_version} {obj.kind} is deprecated; use {replacement}",
                ("apiVersion",),
            )


@REGISTRY.rule("SG503", "unknown-kind", Severity.WARNING, DEPRECATION_DOC)
def unknown_kind(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A kind that is neither a Kubernetes built-in, nor a known GenAI operator CRD, nor defined by
    a CustomResourceDefinition in the linted set or manifests/crds/.

    An unknown kind is usually a typo or a CRD that is not installed; nothing else in the object can
    be checked, and kubectl apply fails with 'no matches for kind'.

    Fix: Fix the kind, or lint together with its CustomResourceDefinition.
    """
    table = _table(objects)
    for obj in objects:
        if obj.kind and obj.kind not in table.served:
            yield Hit(
                obj, f"unknown kind {obj.kind} ({obj.api_version or 'no apiVersion'})", ("kind",)
            )


def _path(dotted: str) -> Path_:
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+", dotted):
        parts.append(int(piece) if piece.isdigit() else piece)
    return tuple(parts)


@REGISTRY.rule(
    "SG504",
    "schema-invalid",
    Severity.ERROR,
    "https://kubernetes.io/docs/reference/kubernetes-api/",
)
def schema_invalid(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An object that does not validate against the Kubernetes OpenAPI schema or its CRD schema.

    The API server rejects invalid objects (or, for CRDs without strict validation, silently drops
    unknown fields, so a mis-indented setting never takes effect).

    Fix: Fix the field named in the message (check its indentation and type).
    """
    from servegate.k8s.validate import validate_objects

    table = _table(objects)
    known = [o for o in objects if o.api_version in table.served.get(o.kind, ())]
    try:
        problems = validate_objects([o.doc for o in known])
    except NotImplementedError:
        return  # servegate.k8s.validate not available in this build
    by_ref = {(o.kind, o.name, o.namespace): o for o in known}
    for problem in problems:
        obj = by_ref.get((problem.kind, problem.name, problem.namespace))
        if obj is None or problem.message.startswith("unknown kind"):
            continue  # SG501/SG503 say it better
        yield Hit(obj, f"{problem.path or '<root>'}: {problem.message}", _path(problem.path))
