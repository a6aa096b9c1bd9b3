"""Validate rendered objects against the Kubernetes OpenAPI and the vendored CRD schemas.

Built-in kinds are checked against the strict JSON Schemas that kubernetes-validate ships
offline (unknown fields are errors, as with ``kubectl apply --validate=strict``); custom
resources against the ``openAPIV3Schema`` of the CRDs vendored under ``manifests/crds/`` (or
defined among the objects themselves), tightened the same way. An apiVersion/kind that
neither knows is a problem too: a typo there would otherwise only fail at apply time.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import yaml
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from servegate.errors import UserError
from servegate.paths import cache_root, manifests_root

DEFAULT_K8S_VERSION = "1.37.0"
_DEFS_URI = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_MAX_MSG = 200
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

GVK = tuple[str, str, str]  # (group, version, kind); group "" is the core API


@dataclass(frozen=True)
class Problem:
    """One schema violation of one object; ``path`` is a dotted field path (``spec.replicas``)."""

    kind: str
    name: str
    namespace: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.kind}/{self.name}"
        if self.namespace:
            where = f"{self.namespace}/{where}"
        return f"{where}: {self.path or '<root>'}: {self.message}"


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def supported_versions() -> list[str]:
    """Kubernetes versions whose schemas the pinned kubernetes-validate ships."""
    from kubernetes_validate import utils

    return sorted({str(v) for v in utils.all_versions()}, key=_vkey)


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.lstrip("v").split(".")[:2])


def _schema_dir(k8s_version: str) -> Path:
    import kubernetes_validate

    try:
        want = _vkey(k8s_version)
    except ValueError:
        raise UserError(f"k8s version {k8s_version!r} is not like 1.37 or 1.37.0") from None
    have = [v for v in supported_versions() if _vkey(v) <= want]
    if not have or want > _vkey(supported_versions()[-1]):
        raise UserError(
            f"k8s version {k8s_version} has no bundled schema "
            f"(kubernetes-validate has {', '.join(supported_versions())})"
        )
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return root / f"v{have[-1]}-local-strict"


@functools.cache
def _builtin(k8s_version: str) -> tuple[Registry, dict[GVK, str]]:
    """Registry holding the definitions, and the definition name of every built-in GVK."""
    defs = json.loads((_schema_dir(k8s_version) / "_definitions.json").read_text())
    registry: Registry = Resource.from_contents(defs) @ Registry()
    gvks: dict[GVK, str] = {}
    for name, schema in defs["$defs"].items():
        for g in schema.get("x-kubernetes-group-version-kind", []):
            key = (g["group"], g["version"], g["kind"])
            # Shared types (DeleteOptions, WatchEvent) list many GVKs; prefer the own type.
            if key not in gvks or name.endswith("." + g["kind"]):
                gvks[key] = name
    return registry, gvks


@functools.cache
def _builtin_validator(k8s_version: str, def_name: str) -> jsonschema.protocols.Validator:
    registry, _ = _builtin(k8s_version)
    schema = {"$ref": f"{_DEFS_URI}#/$defs/{def_name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _tighten(node: Any) -> Any:
    """OpenAPI v3 (structural) schema -> JSON Schema that rejects unknown fields and nulls."""
    if isinstance(node, list):
        return [_tighten(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _tighten(v) for k, v in node.items()}
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        for field in ("apiVersion", "kind"):
            props.setdefault(field, {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _crd_schemas(crd: dict[str, Any]) -> dict[GVK, dict[str, Any]]:
    spec = crd.get("spec") or {}
    group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
    out: dict[GVK, dict[str, Any]] = {}
    for ver in spec.get("versions") or []:
        schema = ((ver.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"}
        if ver.get("served", True):
            out[(group, ver.get("name", ""), kind)] = schema
    return out


def _parsed(path: Path) -> list[Any]:
    """The YAML documents of a vendored CRD file. Parsing the 5 MB of vendored CRDs is most of
    what a lint run costs, so the result is kept as JSON in the user cache, keyed by the file's
    SHA-256 (a changed file is parsed anew; a missing or unreadable cache entry only costs the
    parse)."""
    data = path.read_bytes()
    cached = cache_root() / "crd-json" / f"{hashlib.sha256(data).hexdigest()}.json"
    try:
        docs = orjson.loads(cached.read_bytes())
        if isinstance(docs, list):
            return docs
    except (OSError, orjson.JSONDecodeError):
        pass
    docs = list(yaml.load_all(data, Loader=_LOADER))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(orjson.dumps(docs))
        partial.replace(cached)
    except (OSError, TypeError):
        pass  # the cache is an optimisation: read-only home, a value JSON cannot hold
    return docs


@functools.cache
def _vendored(crds_dir: Path) -> dict[GVK, dict[str, Any]]:
    schemas: dict[GVK, dict[str, Any]] = {}
    for f in sorted(crds_dir.glob("*.yaml")):
        if f.name in ("SOURCES.yaml", "kustomization.yaml"):
            continue
        try:
            docs = _parsed(f)
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"{f}: cannot read CRD: {str(exc).splitlines()[0]}") from exc
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                schemas.update(_crd_schemas(doc))
    return schemas


def vendored_kinds(crds_dir: Path | None = None) -> set[GVK]:
    """(group, version, kind) of every served version of the vendored CRDs (cached)."""
    return set(_vendored((crds_dir or manifests_root() / "crds").resolve()))


def _path(err: ValidationError) -> str:
    out = ""
    for part in err.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: ValidationError) -> str:
    if err.context:
        err = best_match(err.context)
    msg = " ".join(err.message.split())
    return msg if len(msg) <= _MAX_MSG else msg[: _MAX_MSG - 3] + "..."


def _problems(
    obj: dict[str, Any], validator: jsonschema.protocols.Validator, prefix: str = ""
) -> list[Problem]:
    kind, name, ns = _ident(obj)
    out = []
    for err in validator.iter_errors(obj if not prefix else obj.get(prefix, {})):
        path = _path(err)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        out.append(Problem(kind, name, ns, path, _message(err)))
    return out


def _ident(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    return str(obj.get("kind", "?")), str(meta.get("name", "?")), str(meta.get("namespace", ""))


def validate_objects(
    objs: Iterable[dict[str, Any]],
    k8s_version: str = DEFAULT_K8S_VERSION,
    crds_dir: Path | None = None,
) -> list[Problem]:
    """Return every schema problem in ``objs`` (empty when all are valid).

    CRDs come from ``crds_dir`` (default: the vendored ``manifests/crds``) plus any
    CustomResourceDefinition among ``objs``. Raises UserError for an unsupported k8s version.
    """
    objs = list(objs)
    _, builtin = _builtin(k8s_version)
    custom = dict(_vendored((crds_dir or manifests_root() / "crds").resolve()))
    for obj in objs:
        if isinstance(obj, dict) and obj.get("kind") == "CustomResourceDefinition":
            custom.update(_crd_schemas(obj))
    problems: list[Problem] = []
    for obj in objs:
        if not isinstance(obj, dict):
            problems.append(Problem("?", "?", "", "", "not a mapping"))
            continue
        kind, name, ns = _ident(obj)
        api_version = obj.get("apiVersion")
        if not isinstance(api_version, str) or not isinstance(obj.get("kind"), str):
            problems.append(Problem(kind, name, ns, "", "apiVersion and kind must be strings"))
            continue
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
            problems.append(Problem(kind, name, ns, "metadata.name", "required (or generateName)"))
        group, version = split_api_version(api_version)
        gvk = (group, version, kind)
        if gvk in builtin:
            problems += _problems(obj, _builtin_validator(k8s_version, builtin[gvk]))
        elif gvk in custom:
            problems += _problems(obj, _crd_validator(json.dumps(custom[gvk], sort_keys=True)))
            meta = _builtin_validator(k8s_version, _OBJECT_META)
            problems += _problems(obj, meta, prefix="metadata")
        else:
            problems.append(
                Problem(kind, name, ns, "apiVersion", f"unknown kind {kind} in {api_version}")
            )
    return problems


@functools.cache
def _crd_validator(schema_json: str) -> jsonschema.protocols.Validator:
    schema = _tighten(copy.deepcopy(json.loads(schema_json)))
    # The API server implies the envelope fields; CRD authors often leave them out.
    props = schema.setdefault("properties", {})
    for field in ("apiVersion", "kind"):
        props.setdefault(field, {"type": "string"})
    props.setdefault("metadata", {"type": "object"})
    return jsonschema.Draft4Validator(schema)
