"""``index.html`` of a suite session: every load run and every finding, in one page.

The session index (index.json, written by the pytest plugin) lists load runs, each with its
own report.html, and sections: findings that are not load runs (truth tables, autoscaling
time series, cold starts). This page links the former and renders the latter, their markdown
and their plotly figures, self-contained like the run reports.
"""

from __future__ import annotations

import html
from typing import Any

import orjson
from markdown_it import MarkdownIt

from servegate.report.html import CSS, plotly_js

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


def _runs_table(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "<p>No load runs were recorded in this session.</p>"
    e = html.escape
    keys = [k for k in runs[0] if k not in ("name", "dir")]
    head = "<th>run</th>" + "".join(f"<th>{e(k)}</th>" for k in keys)
    rows = []
    for r in runs:
        link = f'<a href="{e(str(r.get("dir", "")))}/report.html">{e(str(r.get("name", "")))}</a>'
        cells = "".join(f"<td>{e(str(r.get(k, '')))}</td>" for k in keys)
        rows.append(f"<tr><td>{link}</td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_session_html(index: dict[str, Any], title: str) -> str:
    """The page for one session's index.json content."""
    e = html.escape
    body = [f"<h1>{e(title)}</h1>", "<h2>Load runs</h2>", _runs_table(index.get("runs", []))]
    figures: list[dict[str, Any]] = []
    for sec in index.get("sections", []):
        body.append(f"<h2>{e(str(sec.get('title', sec.get('name', ''))))}</h2>")
        body.append(_MD.render(str(sec.get("markdown", ""))))
        for fig in sec.get("figures", []):
            body.append(f'<div class="plot" id="fig{len(figures)}"></div>')
            figures.append(fig)
    spec = orjson.dumps(figures).decode().replace("</", "<\\/")
    script = (
        f"const F={spec};F.forEach((f,i)=>Plotly.newPlot('fig'+i,f.data,f.layout||{{}},"
        "{responsive:true,displaylogo:false}));"
    )
    js = f"<script>{plotly_js()}</script>" if figures else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{CSS}</style>{js}</head><body>"
        + "".join(body)
        + (f"<script>{script}</script>" if figures else "")
        + "</body></html>"
    )
