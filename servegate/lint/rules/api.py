"""SG5xx: apiVersions and kinds the cluster serves, and schema validity."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from typing import Any

from servegate.lint.apis import (
    ApiTable,
    builtin_table,
    crd_table,
    group_of,
    vendored_schemas,
    vendored_table,
)
from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity

DEPRECATION_DOC = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"


def _table(objects: Sequence[K8sObject]) -> ApiTable:
    return builtin_table().merged(vendored_table()).merged(crd_table(objects))


def _misplaced(table: ApiTable, obj: K8sObject) -> bool:
    """A known kind under an apiVersion that does not serve it, in a group that the table knows
    (a wrong or removed version). A kind of the same name from a group the table does not know
    is another operator's CRD: SG503 reports it as unknown."""
    versions = table.served.get(obj.kind)
    if not versions or not obj.api_version or obj.api_version in versions:
        return False
    return table.knows_group(group_of(obj.api_version))


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
        if _misplaced(table, obj):
            use = " or ".join(sorted(table.served[obj.kind]))
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
    """A kind that is neither a Kubernetes built-in, nor a known GenAI or platform operator CRD
    (KServe, KubeRay, LeaderWorkerSet, Gateway API inference extension, llm-d, KAITO, AIBrix,
    NVIDIA, Karpenter, GKE, ...), nor defined by a CustomResourceDefinition in the linted set or
    manifests/crds/.

    An unknown kind is usually a typo or a CRD that is not installed; nothing else in the object can
    be checked, and kubectl apply fails with 'no matches for kind'.

    Fix: Fix the kind, or lint together with its CustomResourceDefinition.
    """
    table = _table(objects)
    for obj in objects:
        known = obj.kind in table.served
        if not obj.kind or (known and not obj.api_version):
            continue
        versions = table.served.get(obj.kind, set())
        if not known or (
            obj.api_version not in versions and not table.knows_group(group_of(obj.api_version))
        ):
            yield Hit(
                obj, f"unknown kind {obj.kind} ({obj.api_version or 'no apiVersion'})", ("kind",)
            )


def _path(dotted: str) -> Path_:
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+", dotted):
        parts.append(int(piece) if piece.isdigit() else piece)
    return tuple(parts)


_PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*|\{\{|<[a-z][\w -]*>")


def _at(doc: Any, path: Path_) -> Any:
    for part in path:
        if isinstance(part, int) and isinstance(doc, list) and part < len(doc):
            doc = doc[part]
        elif isinstance(part, str) and isinstance(doc, dict):
            doc = doc.get(part)
        else:
            return None
    return doc


def defaulted(value: Any, schema: Any) -> Any:
    """``value`` as the API server stores a custom resource: nulls of non-nullable fields pruned,
    then the schema's defaults filled in for absent fields (Kubernetes docs 'Defaulting' for
    CustomResourceDefinitions). Returns a new value; the input is not changed."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if item is None and isinstance(sub, dict) and not sub.get("nullable"):
                continue
            out[key] = defaulted(item, sub)
        for key, sub in props.items():
            if key not in out and isinstance(sub, dict) and "default" in sub:
                out[key] = defaulted(copy.deepcopy(sub["default"]), sub)
        return out
    if isinstance(value, list):
        return [defaulted(item, schema.get("items")) for item in value]
    return value


def _custom_schemas(objects: Sequence[K8sObject]) -> dict[tuple[str, str, str], Any]:
    schemas = dict(vendored_schemas())
    for obj in objects:
        if obj.kind != "CustomResourceDefinition":
            continue
        spec = obj.doc.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        names = spec.get("names")
        kind = names.get("kind") if isinstance(names, dict) else None
        versions = spec.get("versions")
        for version in versions if isinstance(versions, list) else []:
            schema = version.get("schema") if isinstance(version, dict) else None
            schema = schema.get("openAPIV3Schema") if isinstance(schema, dict) else None
            if isinstance(kind, str) and isinstance(schema, dict):
                schemas[(str(spec.get("group", "")), str(version.get("name")), kind)] = schema
    return schemas


@REGISTRY.rule(
    "SG504",
    "schema-invalid",
    Severity.ERROR,
    "https://kubernetes.io/docs/reference/kubernetes-api/",
)
def schema_invalid(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An object that does not validate against the Kubernetes OpenAPI schema or its CRD schema.

    The API server rejects invalid objects (or, for CRDs without strict validation, silently drops
    unknown fields, so a mis-indented setting never takes effect). Custom resources are checked as
    the API server checks them: after pruning nulls and applying the CRD's defaults, so a required
    field the CRD defaults is not missing. Values that are still template placeholders
    (${VAR}, {{ .Values }}) are not judged.

    Fix: Fix the field named in the message (check its indentation and type).
    """
    from servegate.k8s.validate import validate_objects

    table = _table(objects)
    known = [o for o in objects if o.api_version in table.served.get(o.kind, ())]
    schemas = _custom_schemas(objects)
    docs = []
    for item in known:
        version = item.api_version.rpartition("/")[2]
        schema = schemas.get((group_of(item.api_version), version, item.kind))
        docs.append(defaulted(item.doc, schema) if schema is not None else item.doc)
    try:
        problems = validate_objects(docs)
    except NotImplementedError:
        return  # servegate.k8s.validate not available in this build
    by_ref = {(o.kind, o.name, o.namespace): o for o in known}
    for problem in problems:
        obj = by_ref.get((problem.kind, problem.name, problem.namespace))
        if obj is None or problem.message.startswith("unknown kind"):
            continue  # SG501/SG503 say it better
        path = _path(problem.path)
        value = _at(obj.doc, path)
        if isinstance(value, str) and _PLACEHOLDER.search(value):
            continue  # a template placeholder, filled in before apply
        yield Hit(obj, f"{problem.path or '<root>'}: {problem.message}", path)
