"""Fuzzing the YAML loaders: load profiles, SLO files, fleets, price tables, sim settings.

Random YAML, and random mutations of every shipped file (of its parsed tree and of its
text), go to the loader that reads such files. The only outcomes allowed: a valid object,
or a :class:`UserError` whose every line is one problem naming the file (``file:line:
field: message`` where the loader knows line and field). Anything else, a traceback, is a
bug in the loader.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_budget import examples
from fuzz_trees import tree_paths
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from servegate.config.base import load_yaml_file
from servegate.config.fleet import Fleet, load_fleet
from servegate.config.prices import PriceTable, load_prices
from servegate.config.profile import Profile
from servegate.config.slo import SLOSpec, load_slo
from servegate.errors import UserError
from servegate.paths import LOADPROFILES, REPO
from servegate.sim.settings import SimSettings, load_settings


def _profile(path: Path) -> Profile:
    return load_yaml_file(path, Profile)  # as `servegate run --profile` reads it


def _sim(path: Path) -> SimSettings:
    return load_settings(path, environ={})


# kind -> (loader, the model it returns, the shipped files of that kind)
LOADERS: dict[str, tuple[Callable[[Path], BaseModel], type[BaseModel], list[Path]]] = {
    "profile": (
        _profile,
        Profile,
        sorted([*LOADPROFILES.glob("*.yaml"), *(LOADPROFILES / "patterns").glob("*.yaml")]),
    ),
    "slo": (load_slo, SLOSpec, sorted((LOADPROFILES / "slo").glob("*.yaml"))),
    "fleet": (load_fleet, Fleet, sorted((REPO / "fleets").glob("*.yaml"))),
    "prices": (load_prices, PriceTable, sorted((LOADPROFILES / "prices").glob("*.yaml"))),
    "sim": (_sim, SimSettings, sorted((LOADPROFILES / "sim").glob("*.yaml"))),
}
SHIPPED = [(kind, path) for kind, (_, _, paths) in LOADERS.items() for path in paths]

# Scalars a YAML file can hold, weighted towards the edges validators get wrong.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "-1", "1e999", "30s", "5m", "nan", "NVIDIA-A100", "p99", "ttft"]),
    st.text(max_size=30),
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "kind",
            "name",
            "type",
            "level",
            "duration",
            "limits",
            "metric",
            "max_ms",
            "pools",
            "count",
            "gpu",
            "gpus",
            "usd_per_hour",
            "labels",
            "mig",
            "profiles",
            "stop",
            "step",
        ]
    ),
    st.text(max_size=12),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Module-scoped: hypothesis reruns the test body many times within one function scope.
    with tempfile.TemporaryDirectory(prefix="sg-fuzz-") as tmp:
        yield Path(tmp) / "input.yaml"


def check_outcome(kind: str, path: Path) -> str:
    """Load ``path`` as ``kind``; 'ok' or 'error' if the outcome is allowed, else fail."""
    loader, model, _ = LOADERS[kind]
    try:
        obj = loader(path)
    except UserError as exc:
        message = str(exc)
        lines = message.split("\n")
        assert lines == message.splitlines(), f"a line break other than \\n: {message!r}"
        assert message and all(lines), f"empty line in the message: {message!r}"
        stray = [ln for ln in lines if not ln.startswith(f"{path}")]
        assert not stray, f"a line that does not name the file: {stray[0]!r}"
        assert "Traceback" not in message
        return "error"
    assert isinstance(obj, model)
    return "ok"


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _edges(value: Any) -> list[Any]:
    """Values next to ``value`` that validators tend to miss: limits, infinities, a newline
    at the end of a name, an empty or doubled list."""
    if isinstance(value, bool):
        return [not value, "yes", 1, None]
    if isinstance(value, int | float):
        return [0, -1, 0.5, -0.0, value * 1000, -value, 1e308, 1e-300, 2**63, INF, -INF, NAN]
    if isinstance(value, str):
        return ["", " ", value + "\n", "\n" + value, value * 40, value + "\x00", value[:-1], 5]
    if isinstance(value, list):
        return [[], value * 2, value[:1], value[::-1], {}]
    if isinstance(value, dict):
        return [{}, [], None, {**value, **{k + "x": v for k, v in list(value.items())[:1]}}]
    return ["", 0, [], {}]


INF, NAN = float("inf"), float("nan")


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any) -> Any:
    """``tree`` after 1-4 random edits: a value moved to an edge (most often), replaced,
    deleted, added, wrapped, or a key renamed."""
    tree = copy.deepcopy(tree)
    ops = ["edge", "edge", "edge", "replace", "delete", "add", "rename", "wrap"]
    for _ in range(draw(st.integers(1, 4))):
        paths = list(tree_paths(tree))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(ops))
        if not path:
            if op in ("replace", "wrap"):
                tree = draw(TREES) if op == "replace" else [tree]
            continue
        parent, last = _get(tree, path[:-1]), path[-1]
        if op == "edge":
            parent[last] = draw(st.sampled_from(_edges(parent[last])))
        elif op == "replace":
            parent[last] = draw(TREES)
        elif op == "wrap":
            parent[last] = draw(st.sampled_from([[parent[last]], {"value": parent[last]}]))
        elif op == "delete":
            del parent[last]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(TREES)
        elif op == "add":
            parent.insert(draw(st.integers(0, len(parent))), draw(TREES))
        elif isinstance(parent, dict):  # rename, often to a near miss of the old name
            near = [f"{last}\n", f" {last}", str(last).upper(), f"{last}s"]
            parent[draw(st.sampled_from(near) | KEYS)] = parent.pop(last)
    return tree


# Characters and tokens that change what YAML means: syntax, anchors, explicit tags whose
# constructors fail on the wrong text, merge keys, nesting past any recursion limit.
TEXT_PIECES = [
    *(":", "-", " ", "\n", "\t", "'", '"', "[", "{", "&a ", "*a", "!!", "<<: "),
    *("!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "!!set ", "!!omap "),
    "[" * 3000,
]


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` after 1-3 character edits: YAML syntax, indentation and quoting break."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        piece = draw(st.sampled_from(TEXT_PIECES) | st.text(max_size=3))
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif op == "replace":
            text = text[:at] + piece + text[at + 1 :]
        else:
            text = text[:at]
    return text


@settings(max_examples=examples(200))
@given(kind=st.sampled_from(sorted(LOADERS)), tree=TREES)
def test_random_yaml_is_loaded_or_refused_in_one_line_per_problem(
    scratch: Path, kind: str, tree: Any
) -> None:
    scratch.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    check_outcome(kind, scratch)


@settings(max_examples=examples(100))
@given(kind=st.sampled_from(sorted(LOADERS)), raw=st.binary(max_size=200))
def test_random_bytes_are_refused_in_one_line(scratch: Path, kind: str, raw: bytes) -> None:
    scratch.write_bytes(raw)
    check_outcome(kind, scratch)


@settings(max_examples=examples(500))
@given(data=st.data(), shipped=st.sampled_from(SHIPPED))
def test_mutated_shipped_files_are_loaded_or_refused_in_one_line_per_problem(
    scratch: Path, data: st.DataObject, shipped: tuple[str, Path]
) -> None:
    kind, original = shipped
    tree = yaml.safe_load(original.read_text(encoding="utf-8"))
    mutated = data.draw(mutated_tree(tree), label="mutated tree")
    scratch.write_text(yaml.safe_dump(mutated, allow_unicode=True), encoding="utf-8")
    check_outcome(kind, scratch)


@settings(max_examples=examples(300))
@given(data=st.data(), shipped=st.sampled_from(SHIPPED))
def test_text_edits_of_shipped_files_are_loaded_or_refused_in_one_line_per_problem(
    scratch: Path, data: st.DataObject, shipped: tuple[str, Path]
) -> None:
    kind, original = shipped
    text = data.draw(mutated_text(original.read_text(encoding="utf-8")), label="edited text")
    scratch.write_text(text, encoding="utf-8")
    check_outcome(kind, scratch)


# Inputs the fuzzing found (each was a traceback or a message of more than one line).
FOUND = {
    "key with a newline": ("fleet", '"pools\\n": []\nname: x\n'),
    "tag value with a newline": ("profile", 'kind: Profile\nload: {type: "open\\n"}\n'),
    "infinite sweep stop": (
        "profile",
        "kind: Profile\nname: x\napi: chat\nmodel: m\nload: {type: open}\n"
        "shape: {type: sweep, start: 1, stop: .inf, step: 1, step_duration: 1}\n"
        "prompt: {mean: 1}\noutput: {mean: 1}\n",
    ),
    "sweep of 1e308 steps": (
        "profile",
        "kind: Profile\nname: x\napi: chat\nmodel: m\nload: {type: open}\n"
        "shape: {type: sweep, start: 1, stop: 1e308, step: 1, step_duration: 1}\n"
        "prompt: {mean: 1}\noutput: {mean: 1}\n",
    ),
    "mean of 1e308 tokens": (
        "profile",
        "kind: Profile\nname: x\napi: chat\nmodel: m\nload: {type: closed}\n"
        "shape: {type: steady, level: 1, duration: 1}\nprompt: {mean: 1e308}\noutput: {mean: 1}\n",
    ),
    "label key ending in a newline": (
        "fleet",
        'name: f\npools: [{name: p, count: 1, labels: {"a\\n": b}}]\n',
    ),
    "explicit int tag on a word": ("slo", "name: !!int abc\n"),
    "explicit bool tag on a word": ("prices", "gpus: !!bool maybe\n"),
    "timestamp in month 13": ("sim", "seed: !!timestamp 2020-13-45\n"),
    "timestamp tag on a word": ("sim", "!!timestamp :# x\nseed: 1\n"),
    "float tag on nothing": ("profile", "!!float : x\nkind: Profile\n"),
    "nesting past the recursion limit": ("slo", "[" * 5000 + "]" * 5000),
}


@pytest.mark.parametrize("name", FOUND)
def test_inputs_the_fuzzing_found_are_refused_in_one_line_per_problem(
    scratch: Path, name: str
) -> None:
    kind, text = FOUND[name]
    scratch.write_text(text, encoding="utf-8")
    assert check_outcome(kind, scratch) == "error"


@pytest.mark.parametrize(("kind", "path"), SHIPPED, ids=[f"{k}:{p.name}" for k, p in SHIPPED])
def test_every_shipped_file_loads(kind: str, path: Path) -> None:
    # The mutations start from valid files: an invalid one would test nothing.
    assert check_outcome(kind, path) == "ok"


def test_the_fuzzed_loaders_cover_every_kind_of_file() -> None:
    assert all(paths for _, _, paths in LOADERS.values())
