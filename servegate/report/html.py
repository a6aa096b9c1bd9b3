"""``report.html``: one self-contained file (plotly.js inlined, no network) with the tables and
plots: latency CDFs, percentile bars, throughput and concurrency over time, and the sweep.

Figures are written as plotly JSON specs straight from the summary; the plotly Python API is
not needed. Plot data is thinned (CDFs to at most ``CDF_POINTS`` points) to keep files small.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import orjson

from servegate.metrics.server import SERIES, ServerSeries
from servegate.metrics.summary import Summary
from servegate.report.tables import STAT_COLUMNS, TPOT_NOTE, Table, all_tables

CDF_POINTS = 400
CDF_METRICS = (("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL (per token)"), ("e2e", "E2E"))
CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}
.flag{background:#fff3cd;padding:.4em .8em;margin:.3em 0;border-left:4px solid #e0a800}
.fail{color:#b00020;font-weight:bold}.pass{color:#1b7f3b;font-weight:bold}
.plot{width:100%;height:380px}.note{color:#555}
"""


@cache
def plotly_js() -> str:
    """plotly.min.js as bundled in the pinned plotly wheel (read, not imported)."""
    ref = resources.files("plotly") / "package_data" / "plotly.min.js"
    # Defensive: a literal "</script" inside would end the inline script element early.
    return ref.read_text(encoding="utf-8").replace("</script", "<\\/script")


def cdf_points(
    sorted_values: Sequence[float], limit: int = CDF_POINTS
) -> tuple[list[float], list[float]]:
    """(x, F(x)) of the empirical CDF at no more than ``limit`` ranks, always keeping the max."""
    n = len(sorted_values)
    if n == 0:
        return [], []
    step = max(1, n // limit)
    idx = list(range(0, n, step))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return [sorted_values[i] for i in idx], [(i + 1) / n for i in idx]


def _fig(data: list[dict[str, Any]], title: str, **layout: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": {"text": title},
        "margin": {"t": 50, "b": 90},
        "legend": {"orientation": "h", "x": 0, "y": -0.28},
    }
    base.update(layout)
    return {"data": data, "layout": base}


def cdf_figures(samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    figs = []
    for key, label in CDF_METRICS:
        x, y = cdf_points(samples.get(key, []))
        trace = {"type": "scatter", "mode": "lines", "x": x, "y": y, "name": label}
        figs.append(
            _fig(
                [trace],
                f"{label} CDF ({len(samples.get(key, []))} samples)",
                xaxis={"title": {"text": "ms"}},
                yaxis={"title": {"text": "fraction"}, "range": [0, 1]},
            )
        )
    return figs


def percentile_figure(summary: Summary) -> dict[str, Any]:
    stats = [k for k, _ in STAT_COLUMNS if k not in ("mean", "max")]
    data = []
    for key, label in CDF_METRICS:
        d = getattr(summary.latency, key)
        data.append(
            {
                "type": "bar",
                "name": label,
                "x": [s.replace("_", ".") for s in stats],
                "y": [d.stat(s) for s in stats],
            }
        )
    return _fig(data, "Latency percentiles (ms)", barmode="group", yaxis={"type": "log"})


def _window_shape(summary: Summary) -> list[dict[str, Any]]:
    r = summary.run
    x0 = (r.window.start_ns - r.start_ns) / 1e9
    x1 = (r.window.end_ns - r.start_ns) / 1e9
    return [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": x0,
            "x1": x1,
            "y0": 0,
            "y1": 1,
            "fillcolor": "rgba(0,120,255,0.07)",
            "line": {"width": 0},
        }
    ]


# The plots over time: (title, left axis, right axis, traces); traces map a field of
# TimePoint to its trace's name, the first drawn against the left axis, the others the right.
TIME_PLOTS = (
    (
        "Throughput over time (shaded: measured window)",
        "tokens/s",
        "requests/s",
        {
            "output_tokens": "output tokens/s",
            "requests_ok": "requests/s (ok)",
            "errors": "errors/s",
        },
    ),
    (
        "Concurrency and TTFT over time",
        "requests in flight",
        "ms",
        {
            "concurrency": "in flight",
            "ttft_p50_ms": "TTFT p50 (ms)",
            "ttft_p99_ms": "TTFT p99 (ms)",
        },
    ),
)


def time_figures(summary: Summary) -> list[dict[str, Any]]:
    ts = summary.timeseries
    t = [p.t_s for p in ts]
    figs = []
    for title, left, right, traces in TIME_PLOTS:
        data: list[dict[str, Any]] = []
        for i, (field, name) in enumerate(traces.items()):
            y = [getattr(p, field) for p in ts]
            trace = {"type": "scatter", "mode": "lines", "name": name, "x": t, "y": y}
            data.append({**trace, "yaxis": "y2"} if i else trace)
        figs.append(
            _fig(
                data,
                title,
                shapes=_window_shape(summary),
                xaxis={"title": {"text": "s since start"}},
                yaxis={"title": {"text": left}},
                yaxis2={"title": {"text": right}, "overlaying": "y", "side": "right"},
            )
        )
    return figs


def _lines(x: Sequence[float], traces: Sequence[tuple[str, Sequence[Any], bool]]) -> list[Any]:
    out: list[dict[str, Any]] = []
    for name, y, right in traces:
        t = {"type": "scatter", "mode": "lines", "name": name, "x": list(x), "y": list(y)}
        out.append({**t, "yaxis": "y2"} if right else t)
    return out


def server_figures(summary: Summary, server: ServerSeries) -> list[dict[str, Any]]:
    """The server's metrics on the client's time axis (seconds since run start): queue and
    batch beside the client's requests in flight, KV-cache and GPU use; the server's token
    rate beside the client's, with the client's TTFT p99."""
    ts = summary.timeseries
    t_client = [p.t_s + 0.5 for p in ts]  # a client point covers [t, t+1)
    sv = server.series
    left: list[tuple[str, Sequence[Any], bool]] = [
        (SERIES[k].label, sv[k], False) for k in ("waiting", "running") if k in sv
    ]
    left.append(("in flight (client)", [p.concurrency for p in ts], False))
    right = [(SERIES[k].label, sv[k], True) for k in ("kv_cache_pct", "gpu_util_pct") if k in sv]
    axes = {
        "shapes": _window_shape(summary),
        "xaxis": {"title": {"text": "s since start"}},
    }
    src = f"server metrics from {server.source}, every {server.interval_s:g} s"
    queue = _lines(server.t_s, [tr for tr in left if not tr[0].endswith("(client)")])
    queue += _lines(t_client, [tr for tr in left if tr[0].endswith("(client)")])
    queue += _lines(server.t_s, right)
    tokens = _lines(
        server.t_s, [(SERIES[k].label, sv[k], False) for k in sv if k.endswith("_per_s")]
    )
    tokens += _lines(
        t_client,
        [
            ("output tokens/s (client)", [p.output_tokens for p in ts], False),
            ("TTFT p99 ms (client)", [p.ttft_p99_ms for p in ts], True),
        ],
    )
    return [
        _fig(
            queue,
            f"Server queue, batch and cache beside the client ({src})",
            yaxis={"title": {"text": "requests"}},
            yaxis2={"title": {"text": "%"}, "overlaying": "y", "side": "right"},
            **axes,
        ),
        _fig(
            tokens,
            "Token rates: server counters and client records; client TTFT p99",
            yaxis={"title": {"text": "tokens/s"}},
            yaxis2={"title": {"text": "ms"}, "overlaying": "y", "side": "right"},
            **axes,
        ),
    ]


def server_note(server: ServerSeries) -> str:
    e = html.escape
    if server.t_s:
        errs = (
            f"; {server.errors} failed (first: {e(server.first_error or '')})"
            if server.errors
            else ""
        )
        return (
            f'<p class="note">Server metrics: {len(server.t_s)} scrapes of {e(server.source)}'
            f"{errs}.</p>"
        )
    return (
        f'<div class="flag"><b>server metrics unavailable</b>: {server.errors} scrapes of '
        f"{e(server.source)} failed (first: {e(server.first_error or 'none')})</div>"
    )


def sweep_points(
    summaries: Sequence[Summary],
) -> list[tuple[str, float, float | None, float | None]]:
    """(label, output tokens/s, p99 TTFT, p99 TPOT): one per stage, or per run without stages."""
    pts = []
    for s in summaries:
        if s.stages:
            pts += [
                (
                    st.name,
                    st.throughput.output_tokens_per_s,
                    st.latency.ttft.p99,
                    st.latency.tpot.p99,
                )
                for st in s.stages
            ]
        else:
            pts.append(
                (
                    s.run.run_id,
                    s.throughput.output_tokens_per_s,
                    s.latency.ttft.p99,
                    s.latency.tpot.p99,
                )
            )
    return pts


def sweep_figure(summaries: Sequence[Summary]) -> dict[str, Any]:
    pts = sweep_points(summaries)
    x = [p[1] for p in pts]
    labels = [p[0] for p in pts]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers+text",
            "name": "TTFT p99",
            "x": x,
            "y": [p[2] for p in pts],
            "text": labels,
            "textposition": "top center",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "TPOT p99",
            "x": x,
            "y": [p[3] for p in pts],
            "yaxis": "y2",
        },
    ]
    return _fig(
        data,
        "Throughput against latency (one point per stage or run)",
        xaxis={"title": {"text": "output tokens/s"}},
        yaxis={"title": {"text": "TTFT p99 (ms)"}},
        yaxis2={"title": {"text": "TPOT p99 (ms)"}, "overlaying": "y", "side": "right"},
    )


def table_html(t: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in t.headers) if any(t.headers) else ""
    rows = []
    for row in t.rows:
        cells = []
        for c in row:
            cls = ' class="fail"' if c == "FAIL" else (' class="pass"' if c == "pass" else "")
            cells.append(f"<td{cls}>{e(c)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<h2>{e(t.title)}</h2><table>{thead}<tbody>{''.join(rows)}</tbody></table>"


def page(title: str, body: list[str], figures: list[dict[str, Any]]) -> str:
    divs = "".join(f'<div class="plot" id="fig{i}"></div>' for i in range(len(figures)))
    spec = orjson.dumps(figures).decode().replace("</", "<\\/")
    script = (
        f"const F={spec};F.forEach((f,i)=>Plotly.newPlot('fig'+i,f.data,f.layout,"
        "{responsive:true,displaylogo:false}));"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style>"
        f"<script>{plotly_js()}</script></head><body>"
        + "".join(body)
        + f"<h2>Plots</h2>{divs}<script>{script}</script></body></html>"
    )


def render_html(
    summary: Summary, samples: dict[str, list[float]], server: ServerSeries | None = None
) -> str:
    e = html.escape
    body = [f"<h1>servegate report: {e(summary.run.run_id)}</h1>"]
    if summary.counts.succeeded == 0:
        body.append(
            '<p class="fail">No successful requests in the measured window: no latency figures.</p>'
        )
    body += [f'<div class="flag"><b>{e(f.code)}</b>: {e(f.message)}</div>' for f in summary.flags]
    body += [table_html(t) for t in all_tables(summary)]
    body.append(f'<p class="note">{e(TPOT_NOTE)}</p><ul class="note">')
    body += [f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in summary.definitions.items()]
    body.append("</ul>")
    figs = [*cdf_figures(samples), percentile_figure(summary), *time_figures(summary)]
    if server is not None:
        body.append(server_note(server))
        if server.t_s:
            figs += server_figures(summary, server)
    if len(summary.stages) >= 2:
        figs.append(sweep_figure([summary]))
    return page(f"servegate {summary.run.run_id}", body, figs)


def render_sweep_html(summaries: Sequence[Summary]) -> str:
    """A page comparing several runs (or the stages of each) as points of one sweep."""
    head = ["stage or run", "output tokens/s", "TTFT p99", "TPOT p99"]
    rows = [
        [lbl, f"{x:,.2f}", "-" if a is None else f"{a:,.2f}", "-" if b is None else f"{b:,.2f}"]
        for lbl, x, a, b in sweep_points(summaries)
    ]
    body = ["<h1>servegate sweep</h1>", table_html(Table("Sweep points", head, rows))]
    return page("servegate sweep", body, [sweep_figure(summaries)])
