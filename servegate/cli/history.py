"""``servegate history DIR...``: headline figures over nightly results, with change points."""

from __future__ import annotations

from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from servegate.errors import UserError
from servegate.report import history as hist


@click.command(name="history")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--html",
    "html_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a page plotting each headline figure over time, change points marked.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the series and change points as JSON.",
)
def history(dirs: tuple[Path, ...], html_out: Path | None, json_out: Path | None) -> None:
    """Follow every profile's headline figures over DIRS (oldest first: each a run, a run's
    repeats, or a session's results directory) and find where they changed (PELT)."""
    try:
        series = hist.collect(dirs)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    t = hist.table(series)
    out = Table(title=f"servegate history over {len(dirs)} results", title_justify="left")
    for h in t.headers:
        out.add_column(h, justify="right" if h in ("points", "last") else "left")
    for row in t.rows:
        out.add_row(*row)
    console = Console()
    console.print(out)
    console.print(
        f"change points: PELT (ruptures), l2 cost on the series over its noise level, penalty "
        f"{hist.PENALTY:g} log n, segments of at least {hist.MIN_SIZE} points",
        highlight=False,
    )
    if html_out is not None:
        html_out.write_text(hist.render_history_html(series))
        console.print(f"wrote {html_out}")
    if json_out is not None:
        doc = [
            {
                "profile": s.profile,
                "figure": s.key,
                "points": s.labels,
                "values": s.values,
                "changes": [
                    {
                        "at": s.labels[c.index],
                        "index": c.index,
                        "before": c.before,
                        "after": c.after,
                    }
                    for c in s.changes
                ],
            }
            for s in series
        ]
        json_out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        console.print(f"wrote {json_out}")
