"""The report's tables as plain data, rendered alike by the Markdown, HTML and console views."""

from __future__ import annotations

from dataclasses import dataclass

from servegate.metrics.stats import Dist
from servegate.metrics.summary import Summary

LATENCY_ROWS: tuple[tuple[str, str], ...] = (
    ("ttft", "TTFT"),
    ("tpot", "TPOT"),
    ("itl", "ITL (per token)"),
    ("ntpot", "NTPOT"),
    ("e2e", "E2E"),
    ("queue", "Client queueing"),
    ("e2e_with_queue", "E2E incl. queueing"),
)
STAT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mean", "mean"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p99_9", "p99.9"),
    ("max", "max"),
)

TPOT_NOTE = (
    "TPOT is vLLM's definition, (E2E - TTFT) / (output tokens - 1) per request; "
    "ITL here is per token (a chunk with k tokens gives k samples of gap/k), pooled across "
    "requests. Beware: guidellm's 'ITL' is this TPOT."
)


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]


def fmt(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def dist_row(label: str, d: Dist) -> list[str]:
    return [label, str(d.count), *(fmt(d.stat(k)) for k, _ in STAT_COLUMNS)]


def latency_table(summary: Summary, title: str = "Latency (ms)") -> Table:
    rows = [dist_row(label, getattr(summary.latency, m)) for m, label in LATENCY_ROWS]
    return Table(title, ["metric", "n", *(h for _, h in STAT_COLUMNS)], rows)


def overview_table(summary: Summary) -> Table:
    r, c, t = summary.run, summary.counts, summary.throughput
    rows = [
        ["profile", r.profile_name],
        ["endpoint", r.endpoint],
        ["model", r.model or "-"],
        ["measured window", f"{r.window_s:,.1f} s"],
        ["workers", str(r.workers)],
        [
            "load-generator ceiling",
            "unknown"
            if r.generator_ceiling_rps is None
            else f"{r.generator_ceiling_rps:,.1f} req/s",
        ],
        ["requests (ok / failed)", f"{c.total} ({c.succeeded} / {c.failed})"],
        ["error rate", "-" if c.error_rate is None else f"{c.error_rate:.2%}"],
        ["output tokens/s", fmt(t.output_tokens_per_s)],
        ["input tokens/s", fmt(t.input_tokens_per_s)],
        ["requests/s (ok)", fmt(t.requests_per_s, 3)],
        ["requests/s sent", fmt(t.sent_per_s, 3)],
        ["goodput req/s", fmt(t.goodput_per_s, 3) if t.goodput_per_s is not None else "no SLO"],
    ]
    return Table("Overview", ["", ""], rows)


def error_table(summary: Summary) -> Table:
    rows = [[k, str(n)] for k, n in summary.counts.errors.items()]
    return Table("Errors by kind (never in latency figures)", ["kind", "count"], rows)


def slo_table(summary: Summary) -> Table | None:
    if summary.slo is None:
        return None
    rows = [
        [v.key, fmt(v.limit, 3), fmt(v.observed, 3), "pass" if v.passed else "FAIL"]
        for v in summary.slo.verdicts
    ]
    verdict = "PASS" if summary.slo.passed else "FAIL"
    return Table(
        f"SLO {summary.slo.spec.name}: {verdict}", ["limit", "max", "observed", "verdict"], rows
    )


def tokens_table(summary: Summary) -> Table:
    tk = summary.tokens
    rows = [
        ["output tokens (total)", str(tk.output_total)],
        ["input tokens (total)", str(tk.input_total)],
        [
            "output tokens per request p50 / max",
            f"{fmt(tk.per_request_output.p50, 0)} / {fmt(tk.per_request_output.max, 0)}",
        ],
        ["usage missing (client count used)", str(tk.usage_missing)],
        ["client/server counts disagree", str(tk.mismatched)],
    ]
    return Table("Tokens", ["", ""], rows)


def timing_table(summary: Summary) -> Table | None:
    te = summary.timing_error
    if te is None:
        return None
    rows = [dist_row("TTFT error", te.ttft_ms), dist_row("chunk gap error", te.gap_ms)]
    return Table(
        f"Client minus server timing (ms, {te.requests} requests)",
        ["metric", "n", *(h for _, h in STAT_COLUMNS)],
        rows,
    )


def stages_table(summary: Summary) -> Table | None:
    if not summary.stages:
        return None
    rows = []
    for s in summary.stages:
        target = (
            f"{s.rate_rps:g} req/s"
            if s.rate_rps
            else (f"{s.concurrency} users" if s.concurrency else "-")
        )
        rows.append(
            [
                s.name,
                target,
                f"{s.counts.succeeded}/{s.counts.total}",
                fmt(s.throughput.output_tokens_per_s),
                fmt(s.latency.ttft.p99),
                fmt(s.latency.tpot.p99),
                fmt(s.latency.e2e.p99),
            ]
        )
    headers = ["stage", "target", "ok/total", "out tok/s", "TTFT p99", "TPOT p99", "E2E p99"]
    return Table("Stages", headers, rows)


def workload_table(summary: Summary) -> Table | None:
    """What was sent and who counted its tokens (prompt source, token counter, mix, ...)."""
    w = summary.run.workload
    if not w:
        return None
    return Table("Workload", ["", ""], [[k, v] for k, v in w.items()])


_GROUP_TITLES = {"model": "Per model", "turn": "Per conversation turn"}


def group_tables(summary: Summary) -> list[Table]:
    """One table per grouping (models of a mix, turns of conversations)."""
    out = []
    for by, title in _GROUP_TITLES.items():
        rows = []
        for g in (g for g in summary.groups if g.by == by):
            slo = "-" if g.slo is None else ("pass" if g.slo.passed else "FAIL")
            rows.append(
                [
                    g.key,
                    f"{g.counts.succeeded}/{g.counts.total}",
                    fmt(g.throughput.requests_per_s),
                    fmt(g.throughput.output_tokens_per_s),
                    fmt(g.latency.ttft.p50),
                    fmt(g.latency.ttft.p99),
                    fmt(g.latency.tpot.p99),
                    fmt(g.latency.e2e.p99),
                    *([slo] if by == "model" else []),
                ]
            )
        if rows:
            headers = [by, "ok/total", "req/s", "out tok/s", "TTFT p50", "TTFT p99", "TPOT p99"]
            headers += ["E2E p99", *(["SLO"] if by == "model" else [])]
            out.append(Table(f"{title} (ms)", headers, rows))
    return out


def all_tables(summary: Summary) -> list[Table]:
    tables = [overview_table(summary)]
    for maybe in (slo_table(summary),):
        if maybe is not None:
            tables.append(maybe)
    tables.append(latency_table(summary))
    if summary.counts.errors:
        tables.append(error_table(summary))
    tables.append(tokens_table(summary))
    for maybe in (timing_table(summary), stages_table(summary)):
        if maybe is not None:
            tables.append(maybe)
    tables += group_tables(summary)
    if (w := workload_table(summary)) is not None:
        tables.append(w)
    return tables
