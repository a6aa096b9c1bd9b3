"""Accelerator and platform knowledge of the GPU rules, read from ``platforms.yaml``.

The data says which extended resources are accelerators, which node labels select accelerator
nodes, which taints accelerator nodes carry, and what each platform (GKE, EKS, AKS, OpenShift)
does by itself, such as adding tolerations. ``servegate lint --platform NAME`` selects a
platform for a run with :func:`selected`; rules ask :func:`active`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import importlib.resources
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

DEFAULT = "generic"
SELECT = ("always", "memory", "never")


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
    tainted: bool  # its nodes carry a platform's device-neutral taints (sku=gpu)
    select: str  # always, memory (when the weights outgrow smallest_gb) or never
    smallest_gb: float | None = None

    def matches(self, resource: str) -> bool:
        return resource.startswith(self.name) if self.prefix else resource == self.name


@dataclass(frozen=True)
class Knowledge:
    """The whole data file, parsed."""

    accelerators: tuple[Accelerator, ...]
    usable_memory_fraction: float
    model_sizes: tuple[tuple[str, float], ...]  # (lower-case name prefix, GB of weights)
    words: re.Pattern[str]
    fabric: re.Pattern[str]
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


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """A word counts at the start of a token: "g5-gpu-pool", not "output"."""
    return re.compile("(?<![a-z])(?:" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE)


def parse(data: Any) -> Knowledge:
    """Check and convert the parsed YAML (a ValueError names the bad entry)."""
    if not isinstance(data, dict):
        raise ValueError("platforms.yaml: not a mapping")
    accelerators: list[Accelerator] = []
    for entry in data.get("accelerators") or []:
        item = entry if isinstance(entry, dict) else {}
        name, prefix = item.get("resource"), item.get("prefix")
        units, tainted, select = item.get("units", 1), item.get("tainted"), item.get("select")
        smallest = item.get("smallest_gb")
        if (
            not isinstance(name or prefix, str)
            or not isinstance(units, int)
            or units < 1
            or not isinstance(tainted, bool)
            or select not in SELECT
            or (select == "memory") != isinstance(smallest, int | float)
        ):
            raise ValueError(f"platforms.yaml: bad accelerator entry {entry!r}")
        accelerators.append(
            Accelerator(
                str(name or prefix),
                prefix is not None,
                units,
                tainted,
                str(select),
                float(smallest) if isinstance(smallest, int | float) else None,
            )
        )
    sizes: list[tuple[str, float]] = []
    for entry in data.get("model_sizes") or []:
        item = entry if isinstance(entry, dict) else {}
        if not isinstance(item.get("name"), str) or not isinstance(item.get("gb"), int | float):
            raise ValueError(f"platforms.yaml: bad model_sizes entry {entry!r}")
        sizes.append((item["name"].lower(), float(item["gb"])))
    usable = data.get("usable_memory_fraction")
    if not isinstance(usable, float) or not 0 < usable <= 1:
        raise ValueError("platforms.yaml: usable_memory_fraction must be a number in (0, 1]")
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
        usable_memory_fraction=usable,
        model_sizes=tuple(sizes),
        words=_word_pattern(words),
        fabric=_word_pattern(_strings(data.get("fabric_words"), "fabric_words")),
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


_ACTIVE: contextvars.ContextVar[Platform | None] = contextvars.ContextVar(
    "servegate_lint_platform", default=None
)
_TAINT = re.compile(
    r"([A-Za-z0-9./_-]+)(?:=([A-Za-z0-9._-]*))?:(NoSchedule|PreferNoSchedule|NoExecute)"
)


def active() -> Platform:
    """The platform selected for this run (``generic`` unless :func:`selected` says else)."""
    return _ACTIVE.get() or knowledge().platforms[DEFAULT]


def parse_taint(text: str) -> tuple[str, str | None, str]:
    """(key, value or None, effect) of ``KEY[=VALUE]:EFFECT``; ValueError names the format."""
    match = _TAINT.fullmatch(text.strip())
    if not match:
        raise ValueError(
            f"bad taint {text!r} (use KEY[=VALUE]:EFFECT, e.g. nvidia.com/gpu:NoSchedule)"
        )
    return match.group(1), match.group(2), match.group(3)


@contextmanager
def selected(name: str, node_taints: Iterable[str] = ()) -> Iterator[Platform]:
    """Lint with ``name`` as the platform inside the ``with`` block; ``node_taints`` are taints
    the cluster's accelerator nodes carry besides the platform's own."""
    if name not in knowledge().platforms:
        raise ValueError(f"unknown platform {name!r} (use {', '.join(names())})")
    platform = knowledge().platforms[name]
    extra = tuple(t.strip() for t in node_taints if t.strip() not in platform.taints)
    for taint in extra:
        parse_taint(taint)
    if extra:
        platform = dataclasses.replace(platform, taints=(*platform.taints, *extra))
    token = _ACTIVE.set(platform)
    try:
        yield platform
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


def selection(resource: str) -> str:
    """Whether pods requesting ``resource`` must pick the node model: always, memory (when
    their weights outgrow the smallest device) or never (not an accelerator, too)."""
    entry = accelerator(resource)
    return entry.select if entry else "never"


def smallest_usable_gb(resource: str) -> float | None:
    """GB of weights the smallest common device of ``resource`` holds with room for the KV
    cache; None when the resource is not sized that way."""
    entry = accelerator(resource)
    if entry is None or entry.smallest_gb is None:
        return None
    return entry.smallest_gb * knowledge().usable_memory_fraction


def published_model_gb(name: str) -> float | None:
    """GB of weights of a model listed in model_sizes (its name carries no count)."""
    last = name.rsplit("/", 1)[-1].lower()
    return next((gb for prefix, gb in knowledge().model_sizes if last.startswith(prefix)), None)


def taints_for(resources: Iterable[str], node_keys: Iterable[str] = ()) -> list[str]:
    """The taints that nodes offering one of ``resources`` carry on the selected platform (and
    on the platforms the node labels ``node_keys`` imply): a taint keyed by an accelerator
    resource applies to that vendor's devices (nvidia.com/gpu to MIG and shared GPUs too), any
    other key (AKS's sku=gpu) to the devices whose nodes are tainted by pool."""
    names = [r for r in resources if is_accelerator(r)]
    taints = list(active().taints)
    for name in sorted(implied(node_keys)):
        taints += [t for t in knowledge().platforms[name].taints if t not in taints]
    out = []
    for taint in taints:
        key = parse_taint(taint)[0]
        if is_accelerator(key):
            vendor = key.split("/", 1)[0]
            applies = any(r.split("/", 1)[0] == vendor for r in names)
        else:
            applies = any(entry.tainted for r in names if (entry := accelerator(r)))
        if applies:
            out.append(taint)
    return out


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


def names_fabric(resource: str) -> bool:
    """An extended resource for an RDMA/InfiniBand/EFA fabric (only large accelerator nodes
    offer one)."""
    return not is_accelerator(resource) and bool(knowledge().fabric.search(resource))


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
