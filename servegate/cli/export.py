"""``servegate export RUN_DIR``: the run as an llm-d Benchmark Report v0.2 (JSON or YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
import yaml

from servegate.errors import UserError
from servegate.paths import LLMD_REPORT_SCHEMA
from servegate.report.llmd import to_llmd_report
from servegate.report.writer import load_summary, read_server_series


def llmd_document(run_dir: Path) -> dict[str, Any]:
    """The llm-d report of a reported run directory (summary.json, profile.yaml, server)."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a run directory")
    summary = load_summary(run_dir)
    try:
        profile = yaml.safe_load((run_dir / "profile.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        profile = {}
    server = read_server_series(run_dir, summary)
    return to_llmd_report(summary, profile if isinstance(profile, dict) else {}, server)


def schema_problems(doc: dict[str, Any], schema_path: Path = LLMD_REPORT_SCHEMA) -> list[str]:
    """Where ``doc`` breaks the vendored llm-d schema (empty when it validates)."""
    from jsonschema import Draft202012Validator

    schema = orjson.loads(schema_path.read_bytes())
    v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in v.iter_errors(doc)
    ]


@click.command(name="export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File to write (default: RUN_DIR/benchmark_report_v0.2.json, or .yaml with --yaml).",
)
@click.option("--yaml", "as_yaml", is_flag=True, help="Write YAML instead of JSON.")
def export(run_dir: Path, out: Path | None, as_yaml: bool) -> None:
    """Write RUN_DIR as an llm-d Benchmark Report (format v0.2), checked against the vendored
    schema when the source tree has it."""
    try:
        doc = llmd_document(run_dir)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    if LLMD_REPORT_SCHEMA.exists() and (problems := schema_problems(doc)):
        raise click.ClickException(f"the export breaks the llm-d v0.2 schema: {problems[0]}")
    out = out or run_dir / f"benchmark_report_v0.2.{'yaml' if as_yaml else 'json'}"
    if as_yaml:
        out.write_text(yaml.safe_dump(doc, sort_keys=False))
    else:
        out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    click.echo(f"wrote {out}")
