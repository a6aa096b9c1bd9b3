"""Reading a results directory and writing its report files."""

from __future__ import annotations

from pathlib import Path

import orjson

from servegate.config.slo import SLOSpec
from servegate.errors import UserError
from servegate.metrics.analyze import Analysis, analyze
from servegate.metrics.io import read_records
from servegate.metrics.run_meta import load_json_model, load_run_meta
from servegate.metrics.server import SERVER_FILE, SERVER_METRICS_FILE, ServerSeries, server_series
from servegate.metrics.sketch import sketch_of, to_json
from servegate.metrics.summary import SUMMARY_FILE, Summary
from servegate.report.html import render_html
from servegate.report.markdown import render_markdown

SKETCHES_FILE = "sketches.json"


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary name so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def analyze_run(run_dir: Path, slo: SLOSpec | None = None) -> Analysis:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory")
    meta = load_run_meta(run_dir)
    return analyze(read_records(run_dir), meta, slo)


def write_report(run_dir: Path, slo: SLOSpec | None = None) -> Summary:
    """Compute the run's figures and write summary.json, report.md, report.html, sketches.json.

    Raises :class:`UserError` (one line) for a missing or invalid run.json.
    """
    run_dir = Path(run_dir)
    a = analyze_run(run_dir, slo)
    s = a.summary
    _write(
        run_dir / SUMMARY_FILE, orjson.dumps(s.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
    )
    server = read_server_series(run_dir, s)
    if server is not None:
        _write(run_dir / SERVER_FILE, orjson.dumps(server.model_dump(mode="json")))
    _write(run_dir / "report.md", render_markdown(s).encode())
    _write(run_dir / "report.html", render_html(s, a.samples, server).encode())
    sketches = {m: to_json(sketch_of(xs)) for m, xs in a.samples.items()}
    _write(run_dir / SKETCHES_FILE, orjson.dumps(sketches))
    return s


def read_server_series(run_dir: Path, summary: Summary) -> ServerSeries | None:
    """The server's metrics sampled during the run (server_metrics.jsonl), or None."""
    path = Path(run_dir) / SERVER_METRICS_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    lines = []
    for line in raw.splitlines():
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn last line of a killed run
        if isinstance(doc, dict):
            lines.append(doc)
    return server_series(lines, summary.run.start_ns, summary.run.window)


def load_summary(path: Path) -> Summary:
    """A summary.json, given the file or its run directory. One-line :class:`UserError` if bad."""
    p = Path(path)
    if p.is_dir():
        p = p / SUMMARY_FILE
    summary: Summary = load_json_model(p, Summary, "summary")
    return summary


def previous_slo(run_dir: Path) -> SLOSpec | None:
    """The SLO an earlier report of this run was checked against, if any (for re-rendering)."""
    try:
        old = load_summary(run_dir)
    except UserError:
        return None
    return old.slo.spec if old.slo is not None else None
