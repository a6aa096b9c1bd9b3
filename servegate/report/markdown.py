"""``report.md``: the run's figures, flags, SLO verdicts and the definitions used."""

from __future__ import annotations

from servegate.metrics.summary import Summary
from servegate.report.tables import TPOT_NOTE, Table, all_tables


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def table_md(t: Table) -> str:
    headers = [h or " " for h in t.headers]
    lines = [f"## {t.title}", "", "| " + " | ".join(_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows)
    return "\n".join(lines)


def render_markdown(summary: Summary) -> str:
    r = summary.run
    parts = [f"# servegate report: {r.run_id}", ""]
    if summary.counts.succeeded == 0:
        parts += ["**No successful requests in the measured window: no latency figures.**", ""]
    if summary.flags:
        parts += ["## Flags", ""]
        parts += [f"- **{f.code}**: {f.message}" for f in summary.flags]
        parts.append("")
    for t in all_tables(summary):
        parts += [table_md(t), ""]
    parts += ["## Definitions", "", f"> {TPOT_NOTE}", ""]
    parts += [f"- **{k}**: {v}" for k, v in summary.definitions.items()]
    parts.append("")
    return "\n".join(parts)
