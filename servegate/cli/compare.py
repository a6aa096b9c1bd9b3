"""``servegate compare BASE NEW``: exit 0 when no figure regressed past its threshold,
1 when one did, 2 when an input is unreadable or a threshold is malformed."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from servegate.errors import UserError
from servegate.report import compare as cmp
from servegate.report import load_summary
from servegate.report.compare import DEFAULT_THRESHOLDS, Row


class BadInput(click.ClickException):
    exit_code = 2


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.3f}"


def _table(rows: list[Row], base: str, new: str) -> Table:
    t = Table(title="servegate compare", title_justify="left")
    for i, h in enumerate(("figure", base, new, "change", "max regress", "verdict")):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in rows:
        change = "-" if r.change is None else f"{r.change:+.1%}"
        verdict = "[red]REGRESSED[/]" if r.regressed else ("ok" if r.threshold else "")
        t.add_row(r.key, _fmt(r.base), _fmt(r.new), change, str(r.threshold or ""), verdict)
    return t


@click.command(name="compare")
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--max-regress",
    "max_regress",
    multiple=True,
    metavar="KEY=AMOUNT",
    help="Allowed regression, e.g. ttft.p99=10% or error_rate=0.01 (repeatable). Defaults: "
    + ", ".join(DEFAULT_THRESHOLDS),
)
@click.option("--no-defaults", is_flag=True, help="Gate only on the --max-regress given.")
def compare(base: Path, new: Path, max_regress: tuple[str, ...], no_defaults: bool) -> None:
    """Compare two runs (summary.json files or run directories)."""
    try:
        limits = cmp.thresholds(max_regress, defaults=not no_defaults)
        b, n = load_summary(base), load_summary(new)
    except UserError as exc:
        raise BadInput(str(exc)) from None
    rows = cmp.compare(b, n, limits)
    console = Console()
    console.print(_table(rows, f"base {b.run.run_id}", f"new {n.run.run_id}"))
    if b.run.profile_name != n.run.profile_name:
        console.print(
            f"[yellow]warning[/] profiles differ: {b.run.profile_name} vs {n.run.profile_name}"
        )
    for f in n.flags:
        console.print(f"[yellow]warning[/] new run {f.code}: {f.message}", highlight=False)
    bad = [r.key for r in rows if r.regressed]
    if bad:
        console.print(f"[red]regressed:[/] {', '.join(bad)}")
        raise SystemExit(1)
    console.print("no regression past the thresholds")
