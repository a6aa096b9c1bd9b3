"""``servegate compare BASE NEW``: exit 0 when no figure regressed, 1 when one did, 2 when an
input is unreadable or a threshold is malformed.

A figure regressed when its change is past the threshold and, when both sides have repeats,
the one-sided Mann-Whitney U test on the per-repeat values is significant (servegate.report
.compare). Either side may be a peer's result (guidellm, inference-perf: report.peers)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from servegate.errors import UserError
from servegate.metrics.repeats import ALPHA, TEST_NAME
from servegate.report import compare as cmp
from servegate.report.compare import DEFAULT_THRESHOLDS, Row
from servegate.report.peers import load_side


class BadInput(click.ClickException):
    exit_code = 2


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.3f}"


def _table(rows: list[Row], base: str, new: str) -> Table:
    t = Table(title="servegate compare", title_justify="left")
    for i, h in enumerate(("figure", base, new, "change", "max regress", "p", "verdict")):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in rows:
        change = "-" if r.change is None else f"{r.change:+.1%}"
        verdict = f"[red]{r.verdict}[/]" if r.regressed else r.verdict
        p = "-" if r.p_value is None else f"{r.p_value:.3g}"
        t.add_row(r.key, _fmt(r.base), _fmt(r.new), change, str(r.threshold or ""), p, verdict)
    return t


def _what(side: cmp.Side) -> str:
    n = side.repeats
    tool = "" if side.source == "servegate" else f"{side.source} "
    return f"{tool}{side.label}" + (f" ({n} repeats)" if n > 1 else "")


@click.command(name="compare")
@click.argument("base")
@click.argument("new")
@click.option(
    "--max-regress",
    "max_regress",
    multiple=True,
    metavar="KEY=AMOUNT",
    help="Allowed regression, e.g. ttft.p99=10% or error_rate=0.01 (repeatable). Defaults: "
    + ", ".join(DEFAULT_THRESHOLDS),
)
@click.option("--no-defaults", is_flag=True, help="Gate only on the --max-regress given.")
@click.option(
    "--alpha",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=ALPHA,
    show_default=True,
    help="Significance level of the test on per-repeat values.",
)
def compare(
    base: str, new: str, max_regress: tuple[str, ...], no_defaults: bool, alpha: float
) -> None:
    """Compare two runs: run directories, summary.json files, directories of repeats, or a
    peer's JSON result (guidellm report, FILE#N for its N-th benchmark; inference-perf
    lifecycle metrics)."""
    try:
        limits = cmp.thresholds(max_regress, defaults=not no_defaults)
        b, n = load_side(base, f"base {Path(base).name}"), load_side(new, f"new {Path(new).name}")
    except UserError as exc:
        raise BadInput(str(exc)) from None
    rows = cmp.compare(b, n, limits, alpha)
    console = Console()
    console.print(_table(rows, _what(b), _what(n)))
    if b.profile_name != n.profile_name:
        console.print(f"[yellow]warning[/] profiles differ: {b.profile_name} vs {n.profile_name}")
    for w in n.warnings:
        console.print(f"[yellow]warning[/] new run {w}", highlight=False)
    if cmp.qualified(b, n):
        console.print(
            f"significance: {TEST_NAME}, alpha {alpha:g} ({b.repeats} vs {n.repeats} repeats)"
        )
    else:
        console.print(
            "verdict unqualified: a side has a single run, so its spread is unknown and the "
            "thresholds alone decide (use repeats: N >= 3 on both sides for a significance test)"
        )
    bad = [r.key for r in rows if r.regressed]
    if bad:
        console.print(f"[red]regressed:[/] {', '.join(bad)}")
        raise SystemExit(1)
    if cmp.qualified(b, n):
        console.print("no significant change past the thresholds")
    else:
        console.print("no regression past the thresholds (unqualified)")
