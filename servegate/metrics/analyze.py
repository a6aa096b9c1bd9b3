"""Records + run metadata (+ SLO) -> :class:`Summary`, with the raw samples kept for plots.

Window rule: a request belongs to a window when it *completed* inside it
(``start_ns <= end_ns < end_ns_of_window``). Throughput divides those requests' successes and
output tokens by the window length. Failed requests are counted by kind and never enter
latency statistics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from servegate.config.slo import SLOSpec
from servegate.config.workload import ModelShare
from servegate.metrics.derive import Derived, derive, timing_errors
from servegate.metrics.record import RequestRecord
from servegate.metrics.run_meta import RunMeta, Span
from servegate.metrics.slo_eval import evaluate, meets
from servegate.metrics.stats import summarize
from servegate.metrics.summary import (
    DEFINITIONS,
    Counts,
    Flag,
    GroupSummary,
    Latency,
    RunInfo,
    StageSummary,
    Summary,
    Throughput,
    TimingError,
    Tokens,
)
from servegate.metrics.timeseries import timeseries

LATENCY_METRICS = ("ttft", "tpot", "itl", "e2e", "e2e_with_queue", "queue", "ntpot")
# Above this p99 client queueing (ms), the load generator did not keep to its schedule.
QUEUE_P99_FLAG_MS = 10.0
# Below these sample counts the tail percentiles are read from very few requests.
MIN_SAMPLES_P99 = 100


@dataclass
class WindowFigures:
    counts: Counts
    throughput: Throughput
    latency: Latency
    derived: list[Derived]
    ok: list[RequestRecord]
    samples: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Analysis:
    """The summary plus sorted in-window samples per latency metric (for CDF plots)."""

    summary: Summary
    samples: dict[str, list[float]]


def _samples(derived: list[Derived]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {m: [] for m in LATENCY_METRICS}
    for d in derived:
        out["itl"].extend(d.itl)
        for m in LATENCY_METRICS:
            if m == "itl":
                continue
            v = d.value(m)
            if v is not None:
                out[m].append(v)
    for xs in out.values():
        xs.sort()
    return out


def window_figures(
    records: list[RequestRecord], span: Span, thresholds: dict[str, float] | None
) -> WindowFigures:
    inside = [r for r in records if span.contains(r.end_ns)]
    ok = [r for r in inside if r.ok]
    errors = Counter(r.error.value for r in inside if r.error is not None)
    derived = [derive(r) for r in ok]
    secs = span.seconds
    total = len(inside)
    counts = Counts(
        total=total,
        succeeded=len(ok),
        failed=total - len(ok),
        error_rate=(total - len(ok)) / total if total else None,
        errors=dict(sorted(errors.items())),
    )
    good = None if thresholds is None else sum(1 for d in derived if meets(d, thresholds))
    throughput = Throughput(
        requests_per_s=len(ok) / secs,
        output_tokens_per_s=sum(d.output_tokens for d in derived) / secs,
        input_tokens_per_s=sum(r.prompt_tokens or 0 for r in ok) / secs,
        sent_per_s=sum(1 for r in records if span.contains(r.sent_ns)) / secs,
        goodput_per_s=None if good is None else good / secs,
    )
    samples = _samples(derived)
    latency = Latency(**{m: summarize(samples[m]) for m in LATENCY_METRICS})
    return WindowFigures(counts, throughput, latency, derived, ok, samples)


def _timing_error(ok: list[RequestRecord]) -> TimingError | None:
    ttft_errs: list[float] = []
    gap_errs: list[float] = []
    n = 0
    for r in ok:
        t, gaps = timing_errors(r)
        if t is None and not gaps:
            continue
        n += 1
        if t is not None:
            ttft_errs.append(t)
        gap_errs.extend(gaps)
    if n == 0:
        return None
    return TimingError(requests=n, ttft_ms=summarize(ttft_errs), gap_ms=summarize(gap_errs))


def _flags(meta: RunMeta, fig: WindowFigures, tokens: Tokens) -> list[Flag]:
    flags: list[Flag] = []
    c, t, lat = fig.counts, fig.throughput, fig.latency
    if c.succeeded == 0:
        why = f"{c.failed} failed" if c.total else "no request completed in the window"
        flags.append(Flag(code="no_successes", message=f"no successful requests ({why})"))
    ceiling = meta.generator_ceiling_rps
    if ceiling is not None and t.sent_per_s > ceiling:
        flags.append(
            Flag(
                code="past_generator_ceiling",
                message=f"taken past the load-generator ceiling ({t.sent_per_s:.1f} req/s sent"
                f" > {ceiling:.1f} req/s calibrated): latencies include client-side delay",
            )
        )
    q99 = lat.queue.p99
    if q99 is not None and q99 > QUEUE_P99_FLAG_MS:
        flags.append(
            Flag(
                code="client_queueing",
                message=f"requests left late (client queueing p99 {q99:.1f} ms >"
                f" {QUEUE_P99_FLAG_MS:g} ms): see e2e_with_queue",
            )
        )
    if tokens.mismatched:
        flags.append(
            Flag(
                code="token_count_mismatch",
                message=f"client/server token counts disagree on {tokens.mismatched} of"
                f" {c.succeeded} successful requests",
            )
        )
    if tokens.usage_missing:
        flags.append(
            Flag(
                code="usage_missing",
                message=f"server sent no usage on {tokens.usage_missing} requests;"
                " client token counts used for them",
            )
        )
    if 0 < c.succeeded < MIN_SAMPLES_P99:
        flags.append(
            Flag(
                code="few_samples",
                message=f"only {c.succeeded} successful requests: p99 and p99.9 are"
                " read from very few samples",
            )
        )
    return flags


GROUP_TAGS = ("model", "turn")
_SHARES = TypeAdapter(list[ModelShare])


def _model_slos(meta: RunMeta) -> dict[str, SLOSpec]:
    """Per-model SLOs of the profile's mix (none for a profile without one, or unreadable)."""
    try:
        shares = _SHARES.validate_python(meta.profile.get("models") or [])
    except ValidationError:
        return {}
    return {m.name: m.slo for m in shares if m.slo is not None}


def _group_key(by: str, key: str) -> tuple[int, str]:
    return (int(key), "") if by == "turn" and key.isdigit() else (0, key)


def group_figures(
    recs: list[RequestRecord], meta: RunMeta, span: Span, thresholds: dict[str, float] | None
) -> list[GroupSummary]:
    """Figures per model (a mix) and per conversation turn, in the measured window."""
    slos = _model_slos(meta)
    out: list[GroupSummary] = []
    for by in GROUP_TAGS:
        parts: dict[str, list[RequestRecord]] = {}
        for r in recs:
            key = r.tags.get(by)
            if key is not None:
                parts.setdefault(key, []).append(r)
        for key in sorted(parts, key=lambda k: _group_key(by, k)):
            slo = slos.get(key) if by == "model" else None
            own = slo.request_thresholds() if slo is not None else thresholds
            f = window_figures(parts[key], span, own)
            out.append(
                GroupSummary(
                    by=by,
                    key=key,
                    counts=f.counts,
                    throughput=f.throughput,
                    latency=f.latency,
                    slo=evaluate(slo, f.latency, f.counts) if slo is not None else None,
                )
            )
    return out


# The summary's run information is the run's metadata and the measured window.
_FROM_META = set(RunInfo.model_fields) - {"window", "window_s"}


def analyze(
    records: Iterable[RequestRecord], meta: RunMeta, slo: SLOSpec | None = None
) -> Analysis:
    recs = list(records)
    span = meta.measured_window()
    thresholds = slo.request_thresholds() if slo is not None else None
    fig = window_figures(recs, span, thresholds)
    tokens = Tokens(
        output_total=sum(d.output_tokens for d in fig.derived),
        input_total=sum(r.prompt_tokens or 0 for r in fig.ok),
        per_request_output=summarize(float(d.output_tokens) for d in fig.derived),
        usage_missing=sum(1 for d in fig.derived if d.usage_missing),
        mismatched=sum(1 for d in fig.derived if d.token_mismatch),
    )
    stages = []
    for st in meta.stages:
        sf = window_figures(recs, st, thresholds)
        stages.append(
            StageSummary(
                name=st.name,
                span=Span(start_ns=st.start_ns, end_ns=st.end_ns),
                rate_rps=st.rate_rps,
                concurrency=st.concurrency,
                counts=sf.counts,
                throughput=sf.throughput,
                latency=sf.latency,
            )
        )
    summary = Summary(
        definitions=DEFINITIONS,
        run=RunInfo(**meta.model_dump(include=_FROM_META), window=span, window_s=span.seconds),
        counts=fig.counts,
        throughput=fig.throughput,
        latency=fig.latency,
        tokens=tokens,
        timing_error=_timing_error(fig.ok),
        flags=_flags(meta, fig, tokens),
        slo=evaluate(slo, fig.latency, fig.counts) if slo is not None else None,
        stages=stages,
        timeseries=timeseries(recs, meta.start_ns),
        groups=group_figures(recs, meta, span, thresholds),
    )
    return Analysis(summary=summary, samples=fig.samples)
