"""Pure figures of the pattern benchmarks: cost, GPU utilisation, RAG stages, cold starts.

Nothing here talks to a cluster, so every figure and every way a check can fail is unit-tested
(tests/unit/suites/test_pattern_figures.py). The cluster-facing half is
:mod:`servegate.checks.patterns.env`.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from servegate.config.prices import PriceTable
from servegate.metrics.cost import usd_per_1k_requests, usd_per_hour, usd_per_million_tokens
from servegate.metrics.record import RequestRecord
from servegate.metrics.stats import Dist, summarize


@dataclass(frozen=True)
class Cost:
    """What serving costs at the measured rates, from GPUs held and the price table."""

    gpus: float
    product: str
    usd_per_gpu_hour: float
    price_source: str
    usd_per_hour: float
    usd_per_million_output_tokens: float | None  # None: no output token was produced
    usd_per_1k_requests: float | None


def cost_of(
    gpus: float, product: str, prices: PriceTable, output_tokens_per_s: float, requests_per_s: float
) -> Cost:
    """Cost figures; raises ``ConfigError`` if the price table has no entry for ``product``."""
    price = prices.price(product)
    per_m = (
        usd_per_million_tokens(gpus, price.usd_per_hour, output_tokens_per_s)
        if output_tokens_per_s > 0
        else None
    )
    per_1k = None
    if requests_per_s > 0:
        per_1k = usd_per_1k_requests(gpus, price.usd_per_hour, requests_per_s)
    return Cost(
        gpus=gpus,
        product=product,
        usd_per_gpu_hour=price.usd_per_hour,
        price_source=price.source,
        usd_per_hour=usd_per_hour(gpus, price.usd_per_hour),
        usd_per_million_output_tokens=per_m,
        usd_per_1k_requests=per_1k,
    )


@dataclass(frozen=True)
class GpuUtil:
    """DCGM gauges over the measured window, averaged over the pattern's GPUs."""

    util_mean_pct: float
    util_max_pct: float
    fb_used_max_mib: float | None
    series: int  # GPU series seen (one per serving pod on the simulator)
    source: str  # where the figures came from (a Prometheus URL)


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or not math.isfinite(v) else format(v, spec)


PATTERN_COLUMNS = (
    "pattern",
    "req/s",
    "out tok/s",
    "goodput req/s",
    "TTFT p99 ms",
    "TPOT p99 ms",
    "SLO",
    "GPUs",
    "$/GPU-h",
    "$ per 1M out tok",
    "$ per 1k req",
    "GPU util mean %",
    "GPU util max %",
    "FB max MiB",
)


@dataclass(frozen=True)
class Headline:
    """The latency and throughput figures of one pattern's row."""

    requests_per_s: float
    output_tokens_per_s: float
    goodput_per_s: float | None
    ttft_p99_ms: float | None
    tpot_p99_ms: float | None
    slo: str  # "pass (name)", "FAIL (name)" or "-"


def headline_of(summary: Any, slo_name: str | None) -> Headline:
    """From a run's summary (servegate.metrics.summary.Summary)."""
    slo = summary.slo
    verdict = "-" if slo is None else ("pass" if slo.passed else "FAIL")
    th = summary.throughput
    return Headline(
        requests_per_s=th.requests_per_s,
        output_tokens_per_s=th.output_tokens_per_s,
        goodput_per_s=th.goodput_per_s,
        ttft_p99_ms=summary.latency.ttft.p99,
        tpot_p99_ms=summary.latency.tpot.p99,
        slo=f"{verdict} ({slo_name})" if slo_name and slo is not None else verdict,
    )


def pattern_row(pattern: str, head: Headline, cost: Cost, util: GpuUtil | None) -> dict[str, str]:
    """One row of the per-pattern table."""
    values = (
        pattern,
        _fmt(head.requests_per_s, ".2f"),
        _fmt(head.output_tokens_per_s, ".1f"),
        _fmt(head.goodput_per_s, ".2f"),
        _fmt(head.ttft_p99_ms, ".1f"),
        _fmt(head.tpot_p99_ms, ".2f"),
        head.slo,
        _fmt(cost.gpus, "g"),
        _fmt(cost.usd_per_gpu_hour, ".2f"),
        _fmt(cost.usd_per_million_output_tokens, ".3f"),
        _fmt(cost.usd_per_1k_requests, ".4f"),
        _fmt(util.util_mean_pct if util else None, ".2f"),
        _fmt(util.util_max_pct if util else None, ".2f"),
        _fmt(util.fb_used_max_mib if util else None, ".0f"),
    )
    return dict(zip(PATTERN_COLUMNS, values, strict=True))


def markdown_table(columns: Sequence[str], rows: Iterable[dict[str, str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r.get(c, "") for c in columns) + " |" for r in rows]
    return "\n".join(lines)


# --- RAG: one user request = embed the query, then generate the answer ----------------------


@dataclass(frozen=True)
class RagFigures:
    chains: int  # user requests whose two stages both succeeded, ended inside the window
    failed: int  # chains with a failed stage, ended inside the window
    embed_ms: Dist  # embedding request, send to body
    gap_ms: Dist  # embedding answered -> chat sent (client work between the stages)
    chat_ttft_ms: Dist  # chat request's own TTFT
    chat_e2e_ms: Dist
    chat_tpot_ms: Dist  # (E2E - TTFT) / (output tokens - 1) of the answer
    answer_ttft_ms: Dist  # query sent -> first answer token: what the user waits for
    end_to_end_ms: Dist  # query sent -> last answer byte

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.model_dump() if isinstance(v, Dist) else v) for k, v in asdict(self).items()}


def _ms(ns: int) -> float:
    return ns / 1e6


def _tpot_ms(r: RequestRecord) -> float | None:
    tokens = r.completion_tokens if r.completion_tokens is not None else r.client_tokens
    if tokens < 2:
        return None
    return _ms(r.end_ns - r.sent_ns - r.chunks[0][0]) / (tokens - 1)


def rag_figures(records: Iterable[RequestRecord], window: tuple[int, int]) -> RagFigures:
    """Join each chain's embedding and chat records (tag ``chain``) into per-stage figures.

    A chain counts when its last record ended inside ``window`` (start_ns, end_ns), the rule
    the run's summary uses for single requests. Records without a chain tag are ignored.
    """
    by_chain: dict[str, list[RequestRecord]] = defaultdict(list)
    for r in records:
        chain = r.tags.get("chain")
        if chain is not None:
            by_chain[chain].append(r)
    lo, hi = window
    ok: list[tuple[RequestRecord, RequestRecord]] = []
    failed = 0
    for recs in by_chain.values():
        recs.sort(key=lambda r: r.sent_ns)
        last = recs[-1]
        if not lo <= last.end_ns < hi:
            continue
        emb = next((r for r in recs if r.api == "embeddings"), None)
        chat = next((r for r in recs if r.api == "chat"), None)
        if emb is None or chat is None or not (emb.ok and chat.ok) or not chat.chunks:
            failed += 1
            continue
        ok.append((emb, chat))
    return RagFigures(
        chains=len(ok),
        failed=failed,
        embed_ms=summarize(_ms(e.end_ns - e.sent_ns) for e, _ in ok),
        gap_ms=summarize(_ms(c.sent_ns - e.end_ns) for e, c in ok),
        chat_ttft_ms=summarize(_ms(c.chunks[0][0]) for _, c in ok),
        chat_e2e_ms=summarize(_ms(c.end_ns - c.sent_ns) for _, c in ok),
        chat_tpot_ms=summarize(t for t in (_tpot_ms(c) for _, c in ok) if t is not None),
        answer_ttft_ms=summarize(_ms(c.sent_ns + c.chunks[0][0] - e.sent_ns) for e, c in ok),
        end_to_end_ms=summarize(_ms(c.end_ns - e.sent_ns) for e, c in ok),
    )


RAG_STAGES = (
    ("embed_ms", "1. embed the query (embedding-service)"),
    ("gap_ms", "   client between stages"),
    ("chat_ttft_ms", "2. generation TTFT (llm-service)"),
    ("chat_tpot_ms", "2. generation TPOT"),
    ("chat_e2e_ms", "2. generation, whole answer"),
    ("answer_ttft_ms", "query -> first answer token"),
    ("end_to_end_ms", "query -> whole answer (end to end)"),
)


def rag_markdown(fig: RagFigures) -> str:
    rows = []
    for key, label in RAG_STAGES:
        d: Dist = getattr(fig, key)
        rows.append(
            {
                "stage": label,
                "n": str(d.count),
                "p50 ms": _fmt(d.p50, ".1f"),
                "p90 ms": _fmt(d.p90, ".1f"),
                "p99 ms": _fmt(d.p99, ".1f"),
                "max ms": _fmt(d.max, ".1f"),
            }
        )
    head = f"{fig.chains} user requests completed in the window, {fig.failed} failed.\n\n"
    return head + markdown_table(("stage", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"), rows)


# --- cold start ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    n: int
    median: float
    minimum: float
    maximum: float
    stdev: float | None  # None with one sample


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no samples")
    return Spread(
        n=len(values),
        median=statistics.median(values),
        minimum=min(values),
        maximum=max(values),
        stdev=statistics.stdev(values) if len(values) > 1 else None,
    )


def cache_problems(samples: Iterable[tuple[str, str, bool]]) -> list[str]:
    """(pod, simulator's start line, whether a cache hit is expected) -> what went wrong.

    A start must report its cache outcome at all, and a hit exactly when one is expected: a
    "persistent" volume that did not persist, or an emptyDir that did, is a wrong result."""
    wrong = []
    for pod, plan, want_hit in samples:
        if "model cache" not in plan:
            wrong.append(f"{pod}: no model-cache line in its log")
        elif ("model cache hit" in plan) != want_hit:
            wrong.append(f"{pod}: expected a cache {'hit' if want_hit else 'miss'}, got: {plan}")
    return wrong


def cold_start_markdown(samples: dict[str, list[float]], notes: dict[str, str]) -> str:
    rows = []
    for variant, values in samples.items():
        s = spread(values)
        rows.append(
            {
                "variant": variant,
                "n": str(s.n),
                "median s": f"{s.median:.2f}",
                "min s": f"{s.minimum:.2f}",
                "max s": f"{s.maximum:.2f}",
                "stdev s": _fmt(s.stdev, ".2f"),
                "samples s": ", ".join(f"{v:.2f}" for v in values),
                "volume": notes.get(variant, ""),
            }
        )
    cols = ("variant", "n", "median s", "min s", "max s", "stdev s", "samples s", "volume")
    return markdown_table(cols, rows)


def sweep_knee(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the sweep saturated, from its step verdicts (in step order): the last rate that
    met every criterion and the first that did not (None when there was none), and one line
    saying so."""
    passed = [v for v in verdicts if v.get("passed")]
    failed = [v for v in verdicts if not v.get("passed")]
    last_ok = passed[-1]["level"] if passed else None
    first_bad = failed[0]["level"] if failed else None
    if last_ok is None and first_bad is None:
        text = "not known: no step was judged"
    elif first_bad is None:
        text = f"not reached: every step up to {last_ok:g} req/s met its criteria"
    elif last_ok is None:
        text = f"below the first step: {first_bad:g} req/s failed ({failed[0].get('reason', '')})"
    else:
        text = (
            f"between {last_ok:g} and {first_bad:g} req/s offered: {last_ok:g} met every "
            f"criterion, {first_bad:g} did not ({failed[0].get('reason', '')})"
        )
    return {"last_met_rps": last_ok, "first_failed_rps": first_bad, "text": text}


__all__ = [
    "PATTERN_COLUMNS",
    "RAG_STAGES",
    "Cost",
    "GpuUtil",
    "Headline",
    "RagFigures",
    "Spread",
    "cache_problems",
    "cold_start_markdown",
    "cost_of",
    "headline_of",
    "markdown_table",
    "pattern_row",
    "rag_figures",
    "rag_markdown",
    "spread",
    "sweep_knee",
]
