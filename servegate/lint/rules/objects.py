"""SG505-SG508: what the API server or kubectl refuse before any controller sees the object:
keys given twice, one object given twice, Secret data that is not base64, invalid names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import PurePath
from typing import Any

from servegate.lint.loader import LoadedObject
from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity
from servegate.lint.workloads import (
    all_templates,
    as_dict,
    as_list,
    get,
    of_kind,
    pod_templates,
    same_namespace,
)

NAMES_DOC = "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"


def _dotted(path: Path_) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


@REGISTRY.rule(
    "SG505",
    "yaml-duplicate-key",
    Severity.ERROR,
    "https://yaml.org/spec/1.2.2/",
)
def duplicate_key(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A mapping key given twice in one YAML object (two env: blocks, two image: lines).

    YAML requires the keys of a mapping to be unique. kubectl ('mapping key "env" already
    defined'), kustomize and Helm refuse such a file; parsers that accept it (PyYAML, many CI
    tools) silently keep the last value, so a review reads one setting and the cluster gets the
    other (YAML 1.2 spec, 'Nodes': the keys of a mapping are unique).

    Fix: Delete one of the two keys, or merge their contents (for lists such as env or ports, put
    all items under one key).
    """
    for obj in objects:
        if not isinstance(obj, LoadedObject):
            continue
        for path, first, again in obj.duplicate_keys:
            yield Hit(
                obj,
                f"key {_dotted(path)!r} is given twice (lines {first} and {again}); "
                "kubectl refuses the file, other parsers keep only the last value",
                path,
            )


def _group(obj: K8sObject) -> str:
    version = obj.api_version
    return version.split("/", 1)[0] if "/" in version else ""


Identity = tuple[str, str, str, str]


def identity(obj: K8sObject) -> Identity | None:
    """(API group, kind, namespace as written, name): what makes an object one object."""
    if not obj.kind or not isinstance(obj.metadata.get("name"), str) or not obj.name:
        return None
    return (_group(obj), obj.kind, obj.namespace, obj.name)


def variant_files(objects: Sequence[K8sObject]) -> set[frozenset[str]]:
    """Pairs of files that are alternatives of each other rather than parts of one deployment:
    they define the same workload (gpu.yaml and sim.yaml renderings of one app, examples of
    one server), or all the objects of one (two at least) are also in the other. Such files
    are not applied together, so cross-file rules do not pair their objects. (A lone object
    that is also in another file is a stale copy, not a variant.)"""
    ids: dict[str, set[Identity]] = {}
    workloads: dict[str, set[Identity]] = {}
    for obj in objects:
        key = identity(obj)
        if key is None:
            continue
        ids.setdefault(obj.file, set()).add(key)
        if any(True for _ in pod_templates(obj)):
            workloads.setdefault(obj.file, set()).add(key)
    files = sorted(ids)
    owners: dict[Identity, list[str]] = {}
    for file in files:
        for key in ids[file]:
            owners.setdefault(key, []).append(file)
    pairs: set[frozenset[str]] = set()
    for names in owners.values():
        for index, a in enumerate(names):
            for b in names[index + 1 :]:
                pair = frozenset((a, b))
                if pair in pairs:
                    continue
                shared_workload = workloads.get(a, set()) & workloads.get(b, set())
                small, large = sorted((ids[a], ids[b]), key=len)
                if shared_workload or (len(small) > 1 and small <= large):
                    pairs.add(pair)
    return pairs


def applied_together(a: K8sObject, b: K8sObject, variants: set[frozenset[str]]) -> bool:
    """Whether ``a`` and ``b`` end up side by side in one namespace: objects of one file or one
    kustomize unit always do; plain files that are variants of each other never do; other plain
    files do when they name the same namespace, or name none and sit in one directory (sibling
    directories of a repository are usually separate apps)."""
    if not same_namespace(a, b):
        return False
    if a.file == b.file:
        return True
    if frozenset((a.file, b.file)) in variants:
        return False
    if a.namespace and b.namespace:
        return True
    if not (isinstance(a, LoadedObject) and isinstance(b, LoadedObject)):
        return True  # rendered from a kustomize unit, which is applied as a whole
    return PurePath(a.file).parent == PurePath(b.file).parent


@REGISTRY.rule(
    "SG506",
    "duplicate-object",
    Severity.ERROR,
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/",
)
def duplicate_object(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """Two different objects with the same API group, kind, namespace and name in one file, or
    in plain files that are applied together and are not variants of each other.

    A name is unique per kind and namespace (Kubernetes docs 'Object Names and IDs'), so the two
    are one object: kubectl apply -f applies both and the last one silently replaces the first,
    kubectl create fails with AlreadyExists, and kustomize, Helm and Argo CD refuse the set.
    Identical copies, and files that are alternatives (they define the same workload, or one
    holds only objects of the other) or sit in sibling directories without a namespace, are not
    reported.

    Fix: Rename one of them, move it to its own namespace, or delete the stale copy.
    """
    variants = variant_files(objects)
    first: dict[Identity, K8sObject] = {}
    for obj in objects:
        key = identity(obj)
        if key is None:
            continue
        seen = first.get(key)
        if seen is None:
            first[key] = obj
            continue
        if seen.doc == obj.doc or not applied_together(seen, obj, variants):
            continue
        where = f"{seen.file}:{seen.line}" if seen.file != obj.file else f"line {seen.line}"
        yield Hit(
            obj,
            f"{obj.kind}/{obj.name} is also defined at {where}; applied together, one replaces "
            "the other",
            ("metadata", "name"),
        )


def _templated(value: str) -> bool:
    """Values still to be filled in (<your-token>, ${VAR}, {{ .Values.x }}) are not values yet."""
    return any(mark in value for mark in ("$", "{", "<"))


# encoding/json decodes []byte with base64.StdEncoding, which skips CR and LF only.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def is_base64(value: str) -> bool:
    return _BASE64.fullmatch(value.replace("\r", "").replace("\n", "")) is not None


@REGISTRY.rule(
    "SG507",
    "secret-data-not-base64",
    Severity.ERROR,
    "https://kubernetes.io/docs/concepts/configuration/secret/#restriction-names-data",
)
def secret_base64(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A Secret whose data holds a value that is not base64 (plain text belongs in stringData).

    The values of a Secret's data are bytes, written as base64 strings; the API server rejects any
    other value ('illegal base64 data at input byte N'), so kubectl apply fails for the Secret and
    every pod that mounts it stays in ContainerCreating (Kubernetes docs 'Secrets: restrictions
    on names and data').

    Fix: Move the plain value to stringData (the API server encodes it), or encode it with
    base64 -w0.
    """
    for obj in of_kind(objects, "Secret"):
        if obj.api_version != "v1":
            continue
        for key, value in as_dict(obj.doc.get("data")).items():
            if value is None or (
                isinstance(value, str) and (is_base64(value) or _templated(value))
            ):
                continue
            what = "is not base64" if isinstance(value, str) else "is not a string"
            yield Hit(
                obj,
                f"data.{key} {what}; put plain text under stringData",
                ("data", str(key)),
            )


_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_IANA_SVC = re.compile(r"[a-z0-9]([a-z0-9]|-(?=[a-z0-9]))*")


def _label(name: str) -> str | None:
    if len(name) > 63:
        return "a DNS-1123 label (at most 63 characters)"
    return None if _LABEL.fullmatch(name) else "a DNS-1123 label (lower case a-z, 0-9 and '-')"


def _label_1035(name: str) -> str | None:
    if len(name) <= 63 and _LABEL_1035.fullmatch(name):
        return None
    if _label(name) is None:
        return "a DNS-1035 label: it starts with a digit, which Kubernetes before 1.36 rejects"
    return "a DNS-1035 label (a lower case letter first, then a-z, 0-9 and '-', at most 63)"


def _subdomain(name: str, most: int = 253) -> str | None:
    if len(name) > most:
        return f"a DNS-1123 subdomain (at most {most} characters)"
    if _SUBDOMAIN.fullmatch(name):
        return None
    return "a DNS-1123 subdomain (lower case a-z, 0-9, '-' and '.')"


def _port_name(name: str) -> str | None:
    if len(name) <= 15 and _IANA_SVC.fullmatch(name) and re.search("[a-z]", name):
        return None
    return "an IANA service name (at most 15 characters of a-z, 0-9 and '-', one letter at least)"


# The name rule of each kind whose validation is not the default DNS-1123 subdomain
# ((API group, kind) -> check); kinds in _NAME_UNCHECKED accept any path segment.
NameCheck = Callable[[str], str | None]
_NAME_RULES: dict[tuple[str, str], NameCheck] = {
    ("", "Service"): _label_1035,
    ("", "Namespace"): _label,
    ("apps", "StatefulSet"): _label,
    ("batch", "CronJob"): lambda name: _subdomain(name, 52),
}
_NAME_UNCHECKED = {
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "PodDisruptionBudget",
    "CustomResourceDefinition",
    "APIService",
    "IPAddress",
    "ComponentStatus",
}


def _checked(value: Any, check: NameCheck) -> str | None:
    """What ``value`` must be if it is a name that fails ``check`` (templates are skipped)."""
    if not isinstance(value, str) or not value or _templated(value):
        return None
    return check(value)


def _name_problems(obj: K8sObject) -> Iterator[tuple[Path_, str, str]]:
    """(path, value, what it must be) for each invalid name of ``obj``."""
    meta = obj.metadata
    if obj.kind not in _NAME_UNCHECKED:
        problem = _checked(meta.get("name"), _NAME_RULES.get((_group(obj), obj.kind), _subdomain))
        if problem:
            yield ("metadata", "name"), str(meta.get("name")), problem
    namespace = meta.get("namespace")
    problem = _checked(namespace, _label)
    if problem:
        yield ("metadata", "namespace"), str(namespace), problem
    if obj.kind == "Service":
        for index, port in enumerate(as_list(get(obj.doc, "spec", "ports"))):
            value = as_dict(port).get("name")
            problem = _checked(value, _label)
            if problem:
                yield ("spec", "ports", index, "name"), str(value), problem


def _template_problems(
    objects: Sequence[K8sObject],
) -> Iterator[tuple[K8sObject, Path_, str, str, str]]:
    """(object, path, what, value, problem) for invalid container, volume and container port
    names in pod templates."""
    for template in all_templates(objects):
        if template.obj.kind == "InferenceService":
            continue  # KServe builds containers from framework keys and names them itself
        for index, volume in enumerate(as_list(template.spec.get("volumes"))):
            value = as_dict(volume).get("name")
            problem = _checked(value, _label)
            if problem:
                path = (*template.path, "volumes", index, "name")
                yield template.obj, path, "volume", str(value), problem
        for cpath, container in template.containers(init=True):
            problem = _checked(container.get("name"), _label)
            if problem:
                yield template.obj, (*cpath, "name"), "container", container["name"], problem
            for index, port in enumerate(as_list(container.get("ports"))):
                value = as_dict(port).get("name")
                problem = _checked(value, _port_name)
                if problem:
                    path = (*cpath, "ports", index, "name")
                    yield template.obj, path, "container port", str(value), problem


@REGISTRY.rule("SG508", "name-invalid", Severity.ERROR, NAMES_DOC)
def name_invalid(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A name the API server rejects: an object name that is not the DNS-1123 subdomain or label
    its kind requires (a DNS-1035 label for Services), or a namespace, container, volume or port
    name that is not a DNS label (an IANA service name for container ports).

    Names become DNS names, label values and host names, so Kubernetes validates them per kind
    (Kubernetes docs 'Object Names and IDs'); upper case, '_' or a name over 63 characters makes
    kubectl apply fail for the object (Kubernetes releases before 1.36 also reject Service names
    that start with a digit).

    Fix: Use lower case letters, digits and '-' (and '.' where a subdomain is allowed), start with
    a letter for Services, and keep labels to 63 and port names to 15 characters.
    """
    for obj in objects:
        for path, value, problem in _name_problems(obj):
            yield Hit(obj, f"{_dotted(path)} {value!r} is not {problem}", path)
    for obj, path, what, value, problem in _template_problems(objects):
        yield Hit(obj, f"{what} name {value!r} is not {problem}", path)
