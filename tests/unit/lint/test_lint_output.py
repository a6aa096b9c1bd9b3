"""Machine and human outputs: SARIF 2.1.0 against its schema, JSON, Markdown, the rule docs."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jsonschema
import pytest

from servegate.lint import REGISTRY, LintResult, lint_paths
from servegate.lint.output import (
    findings_markdown,
    render_table,
    rule_level,
    rules_markdown,
    to_json,
    to_sarif,
)

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
SARIF_SCHEMA = json.loads((HERE / "data" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture(scope="module")
def seed_result() -> LintResult:
    return lint_paths([str(HERE / "seed")])


def test_sarif_validates_against_the_2_1_0_schema(seed_result: LintResult) -> None:
    log = to_sarif(seed_result)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == REGISTRY.ids()
    assert len(run["results"]) == len(seed_result.findings) > 0
    for result, finding in zip(run["results"], seed_result.findings, strict=True):
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["region"]["startLine"] == finding.line
        assert location["artifactLocation"]["uri"].endswith(Path(finding.file).name)


def test_sarif_levels_follow_severity(seed_result: LintResult) -> None:
    levels = {r["ruleId"]: r["level"] for r in to_sarif(seed_result)["runs"][0]["results"]}
    assert levels["SG501"] == "error" and levels["SG201"] == "warning"
    assert levels["SG601"] == "note"


def test_sarif_reports_input_errors_as_notifications() -> None:
    result = LintResult(errors=["x.yaml:3: invalid YAML: boom"])
    log = to_sarif(result)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"] == result.errors[0]


def test_json_carries_every_finding_with_its_fix(seed_result: LintResult) -> None:
    data = json.loads(json.dumps(to_json(seed_result)))
    assert len(data["findings"]) == len(seed_result.findings)
    first = data["findings"][0]
    assert set(first) >= {"rule", "severity", "message", "file", "line", "object", "fix"}
    assert first["fix"] == REGISTRY[first["rule"]].fix
    assert sum(data["summary"][k] for k in ("error", "warning", "info")) == len(data["findings"])


def test_table_groups_by_file_and_shows_the_fix(seed_result: LintResult) -> None:
    out = io.StringIO()
    render_table(seed_result, out)
    text = out.getvalue()
    files = {Path(f.file).name for f in seed_result.findings}
    assert all(name in text for name in files)
    assert "fix:" in text and f"{seed_result.objects} object(s) linted" in text


def test_markdown_outputs_list_every_rule_and_finding(seed_result: LintResult) -> None:
    catalogue = rules_markdown(REGISTRY)
    assert all(f"| {rule_id} |" in catalogue for rule_id in REGISTRY.ids())
    table = findings_markdown(seed_result)
    assert table.count("\n| ") == len(seed_result.findings) + 1  # + the separator row


def test_docs_rule_table_is_the_generated_one() -> None:
    """docs/lint.md must not drift from the registry (regenerate with --list-rules)."""
    text = (ROOT / "docs" / "lint.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- rules:start[^>]*-->\n(.*?)<!-- rules:end -->", text, re.DOTALL)
    assert match, "docs/lint.md lost its rules:start/rules:end markers"
    assert match.group(1) == rules_markdown(REGISTRY)


def test_readme_rule_table_lists_every_rule_as_registered() -> None:
    """The README's short catalogue keeps every rule's id, level, name and summary."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if re.match(r"\| SG\d{3} \|", line)]
    want = [f"| {r.id} | {rule_level(r)} | `{r.name}` | {r.summary} |" for r in REGISTRY]
    assert rows == want
