"""Turn PATH arguments into sets of objects that keep their file and line.

Plain YAML files given together form one set (as ``kubectl apply -f`` would apply them), so
cross-object rules resolve references between files. Each kustomize unit is its own set: its
base and overlays would otherwise shadow each other. A broken input is one line in
``errors`` and never stops the rest from being linted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from servegate.config.base import LocatedConstructorErrors, one_line
from servegate.errors import UserError
from servegate.lint.model import K8sObject, Path_

# One repeated mapping key: (path of the key, line of its first occurrence, line of the repeat).
DuplicateKey = tuple[Path_, int, int]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_YAML_SUFFIXES = (".yaml", ".yml")
# Documents that configure tools, not the cluster: skipped silently inside scanned directories.
_TOOL_KINDS = {"Kustomization", "Component"}
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(LocatedConstructorErrors, _Base):  # type: ignore[valid-type, misc]
    """libyaml's safe loader (PyYAML's when absent) with located constructor errors."""


# What reading a YAML file may raise besides YAMLError: a document nested too deeply.
_UNREADABLE = (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError)


@dataclass
class ObjectSet:
    """Objects linted together; ``label`` names the unit or ``files``."""

    label: str
    objects: list[K8sObject] = field(default_factory=list)


@dataclass
class LoadResult:
    sets: list[ObjectSet] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def object_count(self) -> int:
        return sum(len(s.objects) for s in self.sets)


@dataclass
class LoadedObject(K8sObject):
    """An object read from YAML text, with what PyYAML hides: the mapping keys given twice
    (it silently keeps the last value, where kubectl and kustomize refuse the file)."""

    duplicate_keys: list[DuplicateKey] = field(default_factory=list)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _record_lines(
    node: yaml.Node, path: Path_, out: dict[Path_, int], dups: list[DuplicateKey]
) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = (*path, str(key.value))
                line = key.start_mark.line + 1
                if key.tag != _MERGE_TAG:
                    if child[-1] in first:
                        dups.append((child, first[child[-1]], line))
                    else:
                        first[str(key.value)] = line
                out.setdefault(child, line)
                _record_lines(value, child, out, dups)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), out, dups)


class ParsedDoc(NamedTuple):
    """One YAML document: its value, first line, the line of each field path, repeated keys."""

    doc: Any
    line: int
    lines: dict[Path_, int]
    duplicate_keys: list[DuplicateKey]


def parse_yaml(text: str, file: str) -> tuple[list[ParsedDoc], str | None]:
    """Documents of ``text`` with their first line and field lines; an error stops parsing."""
    docs: list[ParsedDoc] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node guarantees a node
                break
            lines: dict[Path_, int] = {}
            dups: list[DuplicateKey] = []
            _record_lines(node, (), lines, dups)
            docs.append(
                ParsedDoc(loader.construct_document(node), node.start_mark.line + 1, lines, dups)
            )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return docs, f"{where}: invalid YAML: {one_line(problem)}"
    except RecursionError:
        return docs, f"{file}: invalid YAML: nested too deeply"
    finally:
        loader.dispose()
    return docs, None


def _objects_from_doc(parsed: ParsedDoc, file: str, errors: list[str]) -> Iterator[K8sObject]:
    doc, line, lines, dups = parsed
    if doc is None:
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        errors.append(f"{file}:{line}: not a Kubernetes object (no 'kind')")
        return
    if doc["kind"] in _TOOL_KINDS:
        return
    if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
        for index, item in enumerate(doc["items"]):
            prefix = ("items", index)
            sub = {p[2:]: n for p, n in lines.items() if p[:2] == prefix}
            sub_dups = [(p[2:], a, b) for p, a, b in dups if p[:2] == prefix and len(p) > 2]
            yield from _objects_from_doc(
                ParsedDoc(item, lines.get(prefix, line), sub, sub_dups), file, errors
            )
        return
    if not isinstance(doc.get("apiVersion"), str):
        errors.append(f"{file}:{line}: {doc['kind']} has no 'apiVersion'")
    yield LoadedObject(doc=doc, file=file, line=line, lines=lines, duplicate_keys=dups)


def load_text(text: str, file: str, errors: list[str]) -> list[K8sObject]:
    docs, error = parse_yaml(text, file)
    return _build(docs, error, file, errors)


def _build(
    docs: list[ParsedDoc], error: str | None, file: str, errors: list[str]
) -> list[K8sObject]:
    if error:
        errors.append(error)
    out: list[K8sObject] = []
    for parsed in docs:
        out.extend(_objects_from_doc(parsed, file, errors))
    return out


def _looks_like_manifest(docs: list[ParsedDoc]) -> bool:
    return any(isinstance(d.doc, dict) and "kind" in d.doc and "apiVersion" in d.doc for d in docs)


def load_file(path: Path, errors: list[str], scanned: bool = False) -> list[K8sObject]:
    """Objects of one file. A file found by scanning a directory that holds no Kubernetes
    object at all (a tool's config, a data file) is skipped instead of reported."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{path}: cannot read: {exc.__class__.__name__}: {exc}")
        return []
    docs, error = parse_yaml(text, str(path))
    if scanned and error is None and not _looks_like_manifest(docs):
        return []
    return _build(docs, error, str(path), errors)


def _kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _source_docs(directory: Path, seen: set[Path]) -> Iterator[K8sObject]:
    """Source objects a kustomization pulls in, found by following its local references."""
    resolved = directory.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    kfile = _kustomization_file(directory)
    if kfile is None:
        return
    try:
        spec = yaml.load(kfile.read_text(encoding="utf-8"), Loader=_Loader)
    except _UNREADABLE:
        return
    if not isinstance(spec, dict):
        return
    entries: list[Any] = []
    for key in ("resources", "bases", "components", "crds"):
        value = spec.get(key)
        if isinstance(value, list):
            entries.extend(value)
    for entry in entries:
        if not isinstance(entry, str) or "://" in entry or entry.startswith("git@"):
            continue
        target = Path(os.path.normpath(directory / entry))
        if target.is_dir():
            yield from _source_docs(target, seen)
        elif target.is_file() and target.suffix in _YAML_SUFFIXES:
            yield from load_file(target, [])


def _locate(rendered: dict[str, Any], sources: list[K8sObject], fallback: str) -> K8sObject:
    """Attach the source file and lines of the object kustomize started from."""
    obj = K8sObject(doc=rendered, file=fallback, line=1)
    best: K8sObject | None = None
    for src in sources:
        if src.kind != obj.kind or not src.name:
            continue
        if src.name == obj.name:
            best = src
            break
        if src.name in obj.name and (best is None or len(src.name) > len(best.name)):
            best = src
    if best is not None:
        obj.file, obj.line, obj.lines = best.file, best.line, best.lines
    return obj


def load_unit(directory: Path, errors: list[str]) -> ObjectSet | None:
    """Render a kustomize unit; a failure is one error line and no set."""
    from servegate.k8s.render import render_unit

    kfile = _kustomization_file(directory)
    fallback = str(kfile or directory)
    try:
        rendered = render_unit(directory)
    except UserError as exc:
        errors.append(str(exc) if str(directory) in str(exc) else f"{directory}: {exc}")
        return None
    sources = list(_source_docs(directory, set()))
    objects = [
        _locate(doc, sources, fallback)
        for doc in rendered
        if isinstance(doc, dict) and doc.get("kind") not in _TOOL_KINDS
    ]
    return ObjectSet(label=str(directory), objects=objects)


def _is_component(kfile: Path) -> bool:
    try:
        spec = yaml.load(kfile.read_text(encoding="utf-8"), Loader=_Loader)
    except _UNREADABLE:
        return False
    return isinstance(spec, dict) and spec.get("kind") == "Component"


def _walk(directory: Path, plain: list[Path], units: list[Path]) -> None:
    kfile = _kustomization_file(directory)
    if kfile is not None:
        if not _is_component(kfile):
            units.append(directory)
        return
    for child in sorted(directory.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            _walk(child, plain, units)
        elif child.suffix in _YAML_SUFFIXES and child.is_file():
            plain.append(child)


def load_paths(paths: Iterable[str], stdin_text: str | None = None) -> LoadResult:
    """Load every PATH (file, directory, kustomize directory or ``-``)."""
    result = LoadResult()
    plain_files: list[Path] = []
    named: set[Path] = set()
    units: list[Path] = []
    plain = ObjectSet(label="files")
    for raw in paths:
        if raw == "-":
            text = stdin_text if stdin_text is not None else sys.stdin.read()
            plain.objects.extend(load_text(text, "<stdin>", result.errors))
            continue
        path = Path(raw)
        if path.is_dir():
            _walk(path, plain_files, units)
        elif path.is_file():
            if path.name in KUSTOMIZATION_FILES:
                units.append(path.parent)
            else:
                plain_files.append(path)
                named.add(path)
        else:
            result.errors.append(f"{raw}: no such file or directory")
    for file in dict.fromkeys(plain_files):
        plain.objects.extend(load_file(file, result.errors, scanned=file not in named))
    if plain.objects:
        result.sets.append(plain)
    for unit in dict.fromkeys(units):
        loaded = load_unit(unit, result.errors)
        if loaded is not None:
            result.sets.append(loaded)
    return result
