"""Every corpus file triggers exactly the rules its ``# expect:`` header names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from servegate.lint import REGISTRY, lint_paths

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.yaml"))


def expected(path: Path) -> set[str]:
    match = re.search(r"^# expect: (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{path.name} has no '# expect:' header"
    value = match.group(1).strip()
    return set() if value == "none" else {part.strip() for part in value.split(",")}


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_file_triggers_exactly_its_rules(path: Path) -> None:
    result = lint_paths([str(path)])
    assert result.errors == []
    assert {f.rule_id for f in result.findings} == expected(path)


def test_corpus_names_agree_with_expectations() -> None:
    for path in CORPUS:
        prefix = path.name.split("-", 1)[0]
        if prefix.startswith("SG"):
            assert prefix in expected(path), path.name
        else:
            assert path.name.startswith("clean-") and expected(path) == set(), path.name


def test_every_rule_has_a_broken_example() -> None:
    covered = set().union(*(expected(p) for p in CORPUS))
    assert set(REGISTRY.ids()) - covered == set()


def test_clean_examples_exist_and_lint_clean_together() -> None:
    clean = [str(p) for p in CORPUS if p.name.startswith("clean-")]
    assert len(clean) >= 2
    result = lint_paths(clean)
    assert result.findings == [] and result.errors == []
    assert result.objects >= 10
