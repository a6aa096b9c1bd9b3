"""The rich summary printed at the end of a run."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table as RichTable

from servegate.metrics.summary import Summary
from servegate.report.tables import (
    Table,
    group_tables,
    latency_table,
    overview_table,
    slo_table,
    workload_table,
)

# Short metric labels so the latency table fits an 80-column terminal.
_SHORT = {
    "ITL (per token)": "ITL/tok",
    "Client queueing": "queueing",
    "E2E incl. queueing": "E2E+queue",
}


def _rich(t: Table) -> RichTable:
    rt = RichTable(
        title=t.title,
        title_justify="left",
        show_header=any(t.headers),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for i, h in enumerate(t.headers):
        rt.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in t.rows:
        style = "red" if row and row[-1] == "FAIL" else None
        rt.add_row(_SHORT.get(row[0], row[0]), *row[1:], style=style)
    return rt


def print_summary(summary: Summary, console: Console) -> None:
    """Overview, latency table, SLO verdicts and flags, sized for a terminal."""
    console.print(_rich(overview_table(summary)))
    if summary.counts.succeeded:
        console.print(_rich(latency_table(summary)))
    else:
        console.print("[bold red]no successful requests in the measured window[/]")
    if summary.counts.errors:
        errs = ", ".join(f"{k}={n}" for k, n in summary.counts.errors.items())
        console.print(f"errors: {errs}")
    st = slo_table(summary)
    if st is not None:
        console.print(_rich(st))
    for t in group_tables(summary):
        console.print(_rich(t))
    wt = workload_table(summary)
    if wt is not None:
        console.print(_rich(wt))
    for f in summary.flags:
        console.print(f"[yellow]warning[/] {f.code}: {f.message}", highlight=False)
