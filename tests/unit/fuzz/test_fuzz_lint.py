"""Fuzzing ``servegate lint`` with random mutations of the reference manifests.

Each example takes one YAML file of manifests/ (a golden render, a base or a component;
not the vendored CRDs), mutates its parsed objects or its text, and lints the result through
the command line. Allowed: exit 0, 1 or 2, JSON on stdout, and each problem with an input as
one ``servegate lint: ...`` line on stderr. Not allowed: an exception out of the command.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fuzz_budget import examples
from fuzz_trees import tree_paths
from hypothesis import given, settings
from hypothesis import strategies as st

from servegate.cli import cli
from servegate.paths import manifests_root

ROOT = manifests_root()
FILES = sorted(
    p
    for p in ROOT.rglob("*.yaml")
    if "crds" not in p.relative_to(ROOT).parts and p.name != "kustomization.yaml"
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(
        ["", "0", "1", "nvidia.com/gpu", "latest", "vllm/vllm-openai", "--tensor-parallel-size=4"]
    ),
    st.text(max_size=20),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated_docs(draw: st.DrawFn, docs: list[Any]) -> list[Any]:
    """The file's documents after 1-5 edits: a value replaced (by garbage, or by a value of
    another field of the same file), deleted, a list emptied, a document dropped or doubled."""
    docs = copy.deepcopy(docs)
    for _ in range(draw(st.integers(1, 5))):
        # Paths below each document's root, after the earlier edits.
        every = [(i, p) for i, d in enumerate(docs) for p in tree_paths(d) if p]
        if not every:
            break
        op = draw(st.sampled_from(["replace", "replace", "swap", "delete", "empty", "doc"]))
        i, path = draw(st.sampled_from(every))
        parent: Any = docs[i]
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if op == "replace":
            parent[last] = draw(TREES)
        elif op == "swap":
            j, other = draw(st.sampled_from(every))
            value: Any = docs[j]
            for part in other:
                value = value[part]
            parent[last] = copy.deepcopy(value)
        elif op == "delete":
            del parent[last]
        elif op == "empty":
            parent[last] = type(parent[last])() if isinstance(parent[last], list | dict) else None
        elif draw(st.booleans()):
            docs.pop(i)
        else:
            docs.append(copy.deepcopy(docs[i]))
    return docs


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "cut", "dup"]))
        if op == "insert":
            piece = st.sampled_from(["\n", " ", ":", "- ", "---\n", "&x ", "*x", "!!int ", "<<: "])
            text = text[:at] + draw(piece | st.text(max_size=3)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 30)) :]
        elif op == "cut":
            text = text[:at]
        else:
            end = min(len(text), at + draw(st.integers(1, 200)))
            text = text[:end] + text[at:end] + text[end:]
    return text


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sg-lint-fuzz-") as tmp:
        yield Path(tmp) / "mutated.yaml"


def lint_outcome(path: Path) -> int:
    """Lint ``path`` as a user would; fail on anything but a one-line-per-problem outcome."""
    result = CliRunner().invoke(cli, ["lint", str(path), "--format", "json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # the finding: hypothesis shrinks and reports it
    assert result.exit_code in (0, 1, 2), result.output
    assert all(ln.startswith("servegate lint: ") for ln in result.stderr.splitlines()), (
        result.stderr
    )
    json.loads(result.stdout)
    return result.exit_code


@settings(max_examples=examples(150))
@given(data=st.data(), original=st.sampled_from(FILES))
def test_lint_of_mutated_manifests_reports_and_never_crashes(
    scratch: Path, data: st.DataObject, original: Path
) -> None:
    docs = [d for d in yaml.safe_load_all(original.read_text(encoding="utf-8")) if d is not None]
    mutated = data.draw(mutated_docs(docs), label="documents")
    scratch.write_text(yaml.safe_dump_all(mutated, allow_unicode=True), encoding="utf-8")
    lint_outcome(scratch)


@settings(max_examples=examples(80))
@given(data=st.data(), original=st.sampled_from(FILES))
def test_lint_of_edited_manifest_text_reports_and_never_crashes(
    scratch: Path, data: st.DataObject, original: Path
) -> None:
    text = data.draw(mutated_text(original.read_text(encoding="utf-8")), label="text")
    scratch.write_text(text, encoding="utf-8")
    lint_outcome(scratch)


def test_the_reference_manifests_are_fuzzed() -> None:
    assert len(FILES) > 20 and any("golden" in p.parts for p in FILES)
