"""``servegate report RUN_DIR...``: recompute and re-render a results directory."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from servegate.config.slo import SLOSpec, load_slo
from servegate.errors import UserError
from servegate.report import print_summary, write_report
from servegate.report.html import render_sweep_html
from servegate.report.writer import previous_slo


@click.command(name="report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--slo",
    "slo_ref",
    metavar="NAME|FILE",
    help="SLO preset name or YAML file (default: the SLO the run was last checked against).",
)
@click.option(
    "--sweep",
    "sweep_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write one HTML page plotting every run (or stage) as a sweep point.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the summary tables.")
def report(
    run_dirs: tuple[Path, ...], slo_ref: str | None, sweep_out: Path | None, quiet: bool
) -> None:
    """Write summary.json, report.md and report.html in each RUN_DIR from its records."""
    console = Console()
    try:
        spec: SLOSpec | None = load_slo(slo_ref) if slo_ref else None
        summaries = []
        for d in run_dirs:
            s = write_report(d, spec if spec is not None else previous_slo(d))
            summaries.append(s)
            if not quiet:
                print_summary(s, console)
            console.print(f"wrote {d / 'summary.json'}, report.md, report.html")
        if sweep_out is not None:
            sweep_out.write_text(render_sweep_html(summaries), encoding="utf-8")
            console.print(f"wrote {sweep_out}")
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
