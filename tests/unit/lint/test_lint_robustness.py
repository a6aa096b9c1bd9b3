"""Garbage where a rule expects structure must never crash a rule (a seeded mutation sweep)."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servegate.lint import lint_sets
from servegate.lint.loader import ObjectSet, load_paths
from servegate.lint.model import K8sObject

HERE = Path(__file__).parent
GARBAGE: list[Any] = [None, "x", 7, -1, 0.5, True, [], {}, ["a", 1], {"a": None}]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, (*prefix, index))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def test_mutated_manifests_never_crash_a_rule() -> None:
    loaded = load_paths([str(HERE / "corpus"), str(HERE / "seed")])
    objects = [o for s in loaded.sets for o in s.objects]
    rng = random.Random(20261127)
    mutated_fields = 0
    for _ in range(40):
        batch = []
        for obj in rng.sample(objects, 8):
            doc = copy.deepcopy(obj.doc)
            for _ in range(3):
                paths = list(_paths(doc))
                if paths:
                    _set(doc, rng.choice(paths), copy.deepcopy(rng.choice(GARBAGE)))
                    mutated_fields += 1
            batch.append(K8sObject(doc=doc, file="mutated.yaml"))
        result = lint_sets([ObjectSet("mutated", batch)], disable=["SG504"])
        assert result.errors == []
    assert mutated_fields > 500


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        # What the fuzzer found (tests/unit/fuzz/test_fuzz_lint.py, deep profile) and its kin:
        # PyYAML's constructors raise ValueError/KeyError, which used to escape as tracebacks.
        ("!!int apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", 1, "not a valid int"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: !!bool maybe}\n", 3, "valid bool"),
        (
            "apiVersion: v1\nkind: ConfigMap\n"
            "metadata: {name: x, creationTimestamp: !!timestamp 2020-13-45}\n",
            3,
            "month must be in 1..12",
        ),
        ("[" * 5000 + "\n", None, "invalid YAML"),
    ],
)
def test_values_a_tag_cannot_hold_are_one_line_errors(
    tmp_path: Path, text: str, line: int | None, says: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = load_paths([str(bad)])
    (error,) = result.errors
    assert says in error and "\n" not in error
    if line is not None:
        assert error.startswith(f"{bad}:{line}: invalid YAML")
