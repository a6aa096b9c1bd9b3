"""Accelerator and platform knowledge of the GPU rules, read from ``platforms.yaml``.

The data says which extended resources are accelerators, which node labels select accelerator
nodes, which taints accelerator nodes carry, and what each platform (GKE, EKS, AKS, OpenShift)
does by itself, such as adding tolerations. ``servegate lint --platform NAME`` selects a
platform for a run with :func:`selected`; rules ask :func:`active`.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.resources
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

DEFAULT = "generic"


@dataclass(frozen=True)
class Platform:
    """What one platform does on its own to accelerator pods and nodes."""

    name: str
    description: str
    taints: tuple[str, ...]
    tolerations_added_for: frozenset[str]
    node_labels: frozenset[str]
    label_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Accelerator:
    """An accelerator resource name (or name prefix) and what the rules need about it."""

    name: str
    prefix: bool
    units: int  # most parallel workers per device
    tainted: bool  # its nodes usually carry a taint pods must tolerate
    select: bool  # pods should select the node model (clusters mix them)

    def matches(self, resource: str) -> bool:
        return resource.startswith(self.name) if self.prefix else resource == self.name


@dataclass(frozen=True)
class Knowledge:
    """The whole data file, parsed."""

    accelerators: tuple[Accelerator, ...]
    words: re.Pattern[str]
    node_labels: frozenset[str]
    node_label_prefixes: tuple[str, ...]
    node_label_suffixes: tuple[str, ...]
    taint_keys: frozenset[str]
    generic_taint_prefixes: tuple[str, ...]
    platforms: Mapping[str, Platform]


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"platforms.yaml: {what} must be a list of strings")
    return tuple(value)


def parse(data: Any) -> Knowledge:
    """Check and convert the parsed YAML (a ValueError names the bad entry)."""
    if not isinstance(data, dict):
        raise ValueError("platforms.yaml: not a mapping")
    accelerators: list[Accelerator] = []
    for entry in data.get("accelerators") or []:
        item = entry if isinstance(entry, dict) else {}
        name, prefix = item.get("resource"), item.get("prefix")
        units, tainted, select = item.get("units", 1), item.get("tainted"), item.get("select")
        if (
            not isinstance(name or prefix, str)
            or not isinstance(units, int)
            or units < 1
            or not isinstance(tainted, bool)
            or not isinstance(select, bool)
        ):
            raise ValueError(f"platforms.yaml: bad accelerator entry {entry!r}")
        accelerators.append(
            Accelerator(str(name or prefix), prefix is not None, units, tainted, select)
        )
    words = _strings(data.get("accelerator_words"), "accelerator_words")
    platforms: dict[str, Platform] = {}
    for name, item in (data.get("platforms") or {}).items():
        if not isinstance(item, dict):
            raise ValueError(f"platforms.yaml: platform {name!r} is not a mapping")
        platforms[str(name)] = Platform(
            name=str(name),
            description=str(item.get("description", "")),
            taints=_strings(item.get("taints", []), f"{name}.taints"),
            tolerations_added_for=frozenset(
                _strings(item.get("tolerations_added_for", []), f"{name}.tolerations_added_for")
            ),
            node_labels=frozenset(_strings(item.get("node_labels", []), f"{name}.node_labels")),
            label_prefixes=_strings(item.get("label_prefixes", []), f"{name}.label_prefixes"),
        )
    if DEFAULT not in platforms:
        raise ValueError(f"platforms.yaml: the {DEFAULT!r} platform is missing")
    return Knowledge(
        accelerators=tuple(accelerators),
        # A word counts at the start of a token: "g5-gpu-pool", not "output".
        words=re.compile(
            "(?<![a-z])(?:" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE
        ),
        node_labels=frozenset(_strings(data.get("node_labels"), "node_labels")).union(
            *(p.node_labels for p in platforms.values())
        ),
        node_label_prefixes=_strings(data.get("node_label_prefixes"), "node_label_prefixes"),
        node_label_suffixes=_strings(data.get("node_label_suffixes"), "node_label_suffixes"),
        taint_keys=frozenset(_strings(data.get("taint_keys"), "taint_keys")),
        generic_taint_prefixes=_strings(
            data.get("generic_taint_prefixes"), "generic_taint_prefixes"
        ),
        platforms=platforms,
    )


@functools.cache
def knowledge() -> Knowledge:
    text = (importlib.resources.files("servegate.lint") / "platforms.yaml").read_text("utf-8")
    return parse(yaml.safe_load(text))


def names() -> list[str]:
    """Platform names, ``generic`` first."""
    rest = sorted(n for n in knowledge().platforms if n != DEFAULT)
    return [DEFAULT, *rest]


_ACTIVE: contextvars.ContextVar[str] = contextvars.ContextVar(
    "servegate_lint_platform", default=DEFAULT
)


def active() -> Platform:
    """The platform selected for this run (``generic`` unless :func:`selected` says else)."""
    return knowledge().platforms[_ACTIVE.get()]


@contextmanager
def selected(name: str) -> Iterator[Platform]:
    """Lint with ``name`` as the platform inside the ``with`` block."""
    if name not in knowledge().platforms:
        raise ValueError(f"unknown platform {name!r} (use {', '.join(names())})")
    token = _ACTIVE.set(name)
    try:
        yield knowledge().platforms[name]
    finally:
        _ACTIVE.reset(token)


# -- questions the rules ask -----------------------------------------------------------------


def accelerator(resource: str) -> Accelerator | None:
    """The accelerator entry for ``resource``; None if it is no accelerator."""
    return next((a for a in knowledge().accelerators if a.matches(resource)), None)


def accelerator_units(resource: str) -> int | None:
    """Most parallel workers one unit of ``resource`` holds; None if it is no accelerator."""
    entry = accelerator(resource)
    return entry.units if entry else None


def is_accelerator(resource: str) -> bool:
    return accelerator(resource) is not None


def needs_node_selection(resource: str) -> bool:
    """Pods requesting ``resource`` should pick the node model (NVIDIA, TPU, Neuron)."""
    entry = accelerator(resource)
    return entry.select if entry else False


def usually_tainted(resource: str) -> bool:
    """Nodes offering ``resource`` usually carry a taint (NVIDIA, TPU, Neuron; not AMD)."""
    entry = accelerator(resource)
    return entry.tainted if entry else False


def names_accelerators(text: str) -> bool:
    """True when a label or taint key or value mentions accelerators (gpu, tpu, neuron, ...)."""
    return bool(knowledge().words.search(text))


def selects_accelerator_nodes(key: str, values: Iterable[str] = ()) -> bool:
    """A node selection on ``key`` (with these values) picks accelerator nodes."""
    data = knowledge()
    return (
        key in data.node_labels
        or key.startswith(data.node_label_prefixes)
        or key.lower().endswith(data.node_label_suffixes)
        or names_accelerators(key)
        or any(names_accelerators(v) for v in values)
    )


def implied(node_keys: Iterable[str]) -> set[str]:
    """Platforms a pod can only run on, given the node label keys it selects."""
    out = set()
    for platform in knowledge().platforms.values():
        if platform.label_prefixes and any(
            k.startswith(platform.label_prefixes) for k in node_keys
        ):
            out.add(platform.name)
    return out


def tolerates_accelerator_taint(toleration: Mapping[str, Any]) -> bool:
    """A toleration of a known accelerator taint (any value), of every taint, or of a taint
    that only a dedicated node pool carries (a key outside the generic node taints)."""
    key = toleration.get("key")
    if key in (None, "") and toleration.get("operator") == "Exists":
        return True
    return (
        isinstance(key, str)
        and bool(key)
        and (
            key in knowledge().taint_keys
            or names_accelerators(key)
            or not key.startswith(knowledge().generic_taint_prefixes)
        )
    )


def adds_toleration(resources: Iterable[str], node_keys: Iterable[str]) -> str | None:
    """The platform (selected, or implied by the node labels) whose admission adds the
    toleration for one of ``resources`` by itself; None if none does."""
    candidates = [active().name, *sorted(implied(node_keys))]
    wanted = set(resources)
    for name in candidates:
        if knowledge().platforms[name].tolerations_added_for & wanted:
            return name
    return None
