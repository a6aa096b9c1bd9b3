"""Render lint results and the rule catalogue: rich table, JSON, SARIF 2.1.0, Markdown."""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

from servegate.lint.engine import LintResult
from servegate.lint.model import REGISTRY, Registry, Rule, Severity

TOOL_NAME = "servegate-lint"
TOOL_URI = "https://github.com/servegate/servegate/blob/main/docs/lint.md"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _version() -> str:
    try:
        return version("servegate")
    except PackageNotFoundError:  # pragma: no cover - always installed in the venv
        return "0"


def summary(result: LintResult) -> dict[str, int]:
    counts = {s.label: 0 for s in sorted(Severity, reverse=True)}
    for finding in result.findings:
        counts[finding.severity.label] += 1
    return counts


# -- people ----------------------------------------------------------------------------------


def render_table(result: LintResult, out: IO[str], registry: Registry = REGISTRY) -> None:
    console = Console(file=out, width=max(120, Console(file=out).width), soft_wrap=False)
    by_file: dict[str, list[Any]] = {}
    for finding in result.findings:
        by_file.setdefault(finding.file, []).append(finding)
    for file, findings in by_file.items():
        table = Table(title=file, title_justify="left", show_lines=True, expand=True)
        table.add_column("Line", justify="right", no_wrap=True)
        table.add_column("Severity", no_wrap=True)
        table.add_column("Rule", no_wrap=True)
        table.add_column("Object", ratio=1, overflow="fold")
        table.add_column("Finding and fix", ratio=3)
        for f in findings:
            rule = registry[f.rule_id]
            table.add_row(
                str(f.line),
                f"[{_STYLE[f.severity]}]{f.severity.label}[/]",
                f"{f.rule_id}\n{rule.name}",
                f.object_ref + (f"\n[dim]in {f.unit}[/]" if f.unit else ""),
                f"{f.message}\n[dim]fix: {rule.fix}[/]",
            )
        console.print(table)
    counts = summary(result)
    text = ", ".join(f"{n} {label}" for label, n in counts.items())
    extra = f", {result.suppressed} suppressed" if result.suppressed else ""
    console.print(f"{result.objects} object(s) linted: {text}{extra}", highlight=False)


def rule_level(rule: Rule) -> str:
    """A rule's severity, marked when it runs only with --advice."""
    return f"{rule.severity.label} (advice)" if rule.advice else rule.severity.label


def render_rules_table(rules: Iterable[Rule], out: IO[str]) -> None:
    console = Console(file=out, width=max(120, Console(file=out).width))
    table = Table(show_lines=True, expand=True)
    for column in ("ID", "Name", "Severity", "What", "Fix"):
        table.add_column(column, no_wrap=column in ("ID", "Severity"))
    for r in rules:
        table.add_row(r.id, r.name, rule_level(r), r.summary, r.fix)
    console.print(table)


# -- machines --------------------------------------------------------------------------------


def to_json(result: LintResult, registry: Registry = REGISTRY) -> dict[str, Any]:
    return {
        "tool": TOOL_NAME,
        "version": _version(),
        "objects": result.objects,
        "summary": {**summary(result), "suppressed": result.suppressed},
        "errors": result.errors,
        "findings": [
            {
                "rule": f.rule_id,
                "name": registry[f.rule_id].name,
                "severity": f.severity.label,
                "message": f.message,
                "file": f.file,
                "line": f.line,
                "object": f.object_ref,
                "path": f.path,
                "unit": f.unit,
                "fix": registry[f.rule_id].fix,
            }
            for f in result.findings
        ],
    }


def rule_to_json(rule: Rule) -> dict[str, str | bool]:
    return {
        "id": rule.id,
        "name": rule.name,
        "severity": rule.severity.label,
        "advice": rule.advice,
        "summary": rule.summary,
        "rationale": rule.rationale,
        "fix": rule.fix,
        "help_uri": rule.help_uri,
    }


def _artifact_uri(file: str) -> dict[str, str]:
    if file.startswith("<"):
        return {"uri": quote(file.strip("<>"))}
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return {"uri": path.as_uri()}
    return {"uri": quote(path.as_posix()), "uriBaseId": "%SRCROOT%"}


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.rationale},
        "help": {
            "text": f"{rule.rationale}\n\nFix: {rule.fix}",
            "markdown": f"{rule.rationale}\n\n**Fix:** {rule.fix}",
        },
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        "properties": {"tags": ["kubernetes", "genai-serving"]},
    }
    if rule.help_uri:
        out["helpUri"] = rule.help_uri
    return out


def to_sarif(result: LintResult, registry: Registry = REGISTRY) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run, every registered rule and one result per finding."""
    rules = list(registry)
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for f in result.findings:
        results.append(
            {
                "ruleId": f.rule_id,
                "ruleIndex": index[f.rule_id],
                "level": _SARIF_LEVEL[f.severity],
                "message": {
                    "text": f"{f.object_ref}: {f.message}"
                    + (f" (rendered from {f.unit})" if f.unit else "")
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": _artifact_uri(f.file),
                            "region": {"startLine": max(1, f.line)},
                        },
                        "logicalLocations": [
                            {"fullyQualifiedName": f.object_ref, "kind": "resource"}
                        ],
                    }
                ],
                "partialFingerprints": {
                    "servegateObject/v1": f"{f.rule_id}:{f.unit}:{f.object_ref}:{f.path}",
                },
            }
        )
    notifications = [
        {"level": "error", "message": {"text": error}, "descriptor": {"id": "input-error"}}
        for error in result.errors
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "semanticVersion": _version(),
                        "informationUri": TOOL_URI,
                        "rules": [_sarif_rule(r) for r in rules],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not result.errors,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def dump_json(data: Any, out: IO[str]) -> None:
    out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# -- Markdown --------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rules_markdown(rules: Iterable[Rule]) -> str:
    lines = [
        "| ID | Name | Severity | What | Why | Fix |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rules:
        why = _cell(r.rationale) + (f" ([ref]({r.help_uri}))" if r.help_uri else "")
        lines.append(
            f"| {r.id} | `{r.name}` | {rule_level(r)} | {_cell(r.summary)} | {why} | "
            f"{_cell(r.fix)} |"
        )
    return "\n".join(lines) + "\n"


def findings_markdown(result: LintResult) -> str:
    lines = [
        "| File | Line | Severity | Rule | Object | Finding |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in result.findings:
        lines.append(
            f"| {_cell(f.file)} | {f.line} | {f.severity.label} | {f.rule_id} | "
            f"{_cell(f.object_ref)} | {_cell(f.message)} |"
        )
    counts = ", ".join(f"{n} {label}" for label, n in summary(result).items())
    return "\n".join(lines) + f"\n\n{result.objects} object(s) linted: {counts}\n"
