"""``servegate lint``: static GenAI-serving checks on Kubernetes manifests.

Exit codes: 0 clean (or only findings below --fail-on), 1 findings at or above --fail-on or
some input could not be linted, 2 usage error or nothing could be linted.
"""

from __future__ import annotations

import sys
from typing import IO

import click

from servegate.lint import REGISTRY, LintResult, Severity, lint_paths, platforms
from servegate.lint import output as fmt


def _disabled(values: tuple[str, ...]) -> list[str]:
    ids = [part.strip().upper() for value in values for part in value.split(",") if part.strip()]
    unknown = [i for i in ids if i not in REGISTRY]
    if unknown:
        raise click.BadParameter(
            f"unknown rule id(s) {', '.join(unknown)} (see --list-rules)", param_hint="--disable"
        )
    return ids


def _list_rules(form: str, out: IO[str]) -> None:
    rules = list(REGISTRY)
    if form == "json":
        fmt.dump_json([fmt.rule_to_json(r) for r in rules], out)
    elif form == "markdown":
        out.write(fmt.rules_markdown(rules))
    elif form == "sarif":
        fmt.dump_json(fmt.to_sarif(LintResult()), out)
    else:
        fmt.render_rules_table(rules, out)


@click.command(name="lint")
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option(
    "--format",
    "form",
    type=click.Choice(["table", "json", "sarif", "markdown"]),
    default="table",
    show_default=True,
    help="Output for people (table, markdown) or machines (json, sarif).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default="error",
    show_default=True,
    help="Lowest severity that makes the exit code 1.",
)
@click.option(
    "--disable",
    multiple=True,
    metavar="IDS",
    help="Rule ids to skip, comma-separated or repeated (e.g. SG102,SG103).",
)
@click.option(
    "--platform",
    type=click.Choice(platforms.names()),
    default=platforms.DEFAULT,
    show_default=True,
    help="Platform the manifests run on: what it adds by itself (GKE adds GPU and TPU "
    "tolerations) is not asked of them (see servegate/lint/platforms.yaml).",
)
@click.option(
    "--node-taint",
    "node_taints",
    multiple=True,
    metavar="TAINT",
    help="A taint your accelerator nodes carry (KEY[=VALUE]:EFFECT, e.g. "
    "nvidia.com/gpu:NoSchedule), repeatable; GPU pods must tolerate it (SG103).",
)
@click.option(
    "--advice",
    is_flag=True,
    help="Also run the advice rules: best practices whose absence breaks nothing by itself "
    "(marked 'advice' in --list-rules).",
)
@click.option("--list-rules", is_flag=True, help="Print the rule catalogue and exit.")
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write the report to this file instead of stdout.",
)
def lint(
    paths: tuple[str, ...],
    form: str,
    fail_on: str,
    disable: tuple[str, ...],
    platform: str,
    node_taints: tuple[str, ...],
    advice: bool,
    list_rules: bool,
    output: IO[str],
) -> None:
    """Lint manifests: files, directories of YAML, kustomize directories, or - for stdin.

    Suppress a rule for one object with the annotation
    servegate.dev/lint-ignore: "SG101,SG203" (or "all").

    Exit status: 0 clean (or only findings below --fail-on); 1 findings at or above
    --fail-on, or an input that could not be read or rendered; 2 usage error, or nothing
    could be linted.
    """
    if list_rules:
        _list_rules(form, output)
        return
    if not paths:
        raise click.UsageError("give at least one PATH (a file, a directory or -)")
    disabled = _disabled(disable)
    for taint in node_taints:
        try:
            platforms.parse_taint(taint)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--node-taint") from None
    with platforms.selected(platform, node_taints):
        result = lint_paths(paths, disable=disabled, advice=advice)
    for error in result.errors:
        click.echo(f"servegate lint: {error}", err=True)
    if result.objects == 0 and result.errors:
        if form in ("json", "sarif"):
            fmt.dump_json(fmt.to_json(result) if form == "json" else fmt.to_sarif(result), output)
        sys.exit(2)
    if form == "json":
        fmt.dump_json(fmt.to_json(result), output)
    elif form == "sarif":
        fmt.dump_json(fmt.to_sarif(result), output)
    elif form == "markdown":
        output.write(fmt.findings_markdown(result))
    else:
        fmt.render_table(result, output)
    worst = result.worst()
    failed = worst is not None and worst >= Severity.parse(fail_on)
    sys.exit(1 if failed or result.errors else 0)
