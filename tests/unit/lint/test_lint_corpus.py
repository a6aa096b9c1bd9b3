"""Every corpus file triggers exactly the rules its ``# expect:`` header names, linted with the
options its ``# options:`` header gives (``advice``, ``platform=NAME``, ``node-taint=TAINT``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from servegate.lint import REGISTRY, LintResult, lint_paths, platforms

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.yaml"))


def expected(path: Path) -> set[str]:
    match = re.search(r"^# expect: (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{path.name} has no '# expect:' header"
    value = match.group(1).strip()
    return set() if value == "none" else {part.strip() for part in value.split(",")}


def lint_with_options(path: Path) -> LintResult:
    match = re.search(r"^# options: (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    words = match.group(1).split() if match else []
    settings = dict(w.split("=", 1) for w in words if "=" in w)
    assert set(settings) <= {"platform", "node-taint"} and set(words) - {
        f"{k}={v}" for k, v in settings.items()
    } <= {"advice"}, f"{path.name}: unknown option in {words}"
    taints = [settings["node-taint"]] if "node-taint" in settings else []
    with platforms.selected(settings.get("platform", platforms.DEFAULT), taints):
        return lint_paths([str(path)], advice="advice" in words)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_file_triggers_exactly_its_rules(path: Path) -> None:
    result = lint_with_options(path)
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


def test_advice_examples_need_the_advice_option() -> None:
    """A broken example of an advice rule is silent without --advice (advice is opt-in)."""
    advice = {r.id for r in REGISTRY if r.advice}
    assert advice >= {"SG109", "SG203", "SG307"}
    for path in CORPUS:
        if expected(path) & advice:
            assert not {f.rule_id for f in lint_paths([str(path)]).findings} & advice, path.name


def test_clean_examples_exist_and_lint_clean_together() -> None:
    clean = [str(p) for p in CORPUS if p.name.startswith("clean-")]
    assert len(clean) >= 2
    result = lint_paths(clean, advice=True)
    assert result.findings == [] and result.errors == []
    assert result.objects >= 10
