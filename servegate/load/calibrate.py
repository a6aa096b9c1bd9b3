"""Finding the load generator's ceiling: the pure part (no processes, no clock).

A probe sends an open-loop constant rate for a while; its records say how late each request
left (send lag: actual minus scheduled send time) and how many left at all. A probe passes
when the generator kept up: the achieved send rate is close to the target, nothing was
dropped or failed, and the median and p99 send lag stayed under their limits. The search
doubles the rate from a start value until a probe fails, probes that rate once more (a single
bad probe on a busy machine is noise; a pass at a rate outweighs failures there), then
bisects between the best pass and the lowest failing rate. The ceiling is the highest pass
below the lowest failing rate, so a lucky pass above a failure never raises it.

The driver that runs the probes is :mod:`servegate.load.calibration_run`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from servegate.load.calibration_file import ProbeResult, TimingErrorFigures
from servegate.metrics.derive import timing_errors
from servegate.metrics.record import RequestRecord
from servegate.metrics.stats import percentile

NS_PER_MS = 1_000_000.0
NS_PER_S = 1_000_000_000.0


@dataclass(frozen=True)
class Criteria:
    min_achieved_ratio: float = 0.95
    # Limits on the growth of send lag over the idle baseline (a probe at a trivial rate):
    # on a machine where other processes delay wake-ups, lag is never zero, and only its
    # growth says the generator itself fell behind.
    lag_p50_limit_ms: float = 1.0
    lag_p99_limit_ms: float = 20.0
    max_error_ratio: float = 0.0
    # A probe whose simulator used more than this share of its core says nothing about the
    # generator: the simulator, not the generator, may be what fell behind.
    simulator_busy: float = 0.9


@dataclass(frozen=True)
class SearchPlan:
    start_rps: float = 25.0
    max_rps: float = 20000.0
    tolerance: float = 0.1  # stop bisecting when (fail - pass) / fail is below this
    max_probes: int = 12
    confirm: int = 2  # failing probes at one rate before the failure is believed


@dataclass(frozen=True)
class Knee:
    ceiling_rps: float  # 0 when even the first probe failed
    ceiling_chunks_per_s: float
    first_failure_rps: float | None
    bound_by: str  # generator | simulator | max_rate | none
    reasons: tuple[str, ...]  # why the lowest failing probe failed


def judge(
    target_rps: float,
    sent_rps: float,
    errors: int,
    completed: int,
    dropped: int,
    lag_p50_ms: float | None,
    lag_p99_ms: float | None,
    criteria: Criteria,
    baseline: tuple[float, float] = (0.0, 0.0),
) -> list[str]:
    """Reasons the probe failed; empty when the generator kept up.

    ``baseline`` is the (p50, p99) send lag at an idle rate; the limits apply to the growth.
    """
    reasons: list[str] = []
    if sent_rps < criteria.min_achieved_ratio * target_rps:
        reasons.append(f"sent {sent_rps:.1f} of {target_rps:.1f} req/s")
    if dropped:
        reasons.append(f"{dropped} arrivals dropped")
    total = errors + completed
    if total and errors / total > criteria.max_error_ratio:
        reasons.append(f"{errors} errors")
    if lag_p50_ms is None:
        reasons.append("no request was sent")
    else:
        b50, b99 = baseline
        if lag_p50_ms - b50 > criteria.lag_p50_limit_ms:
            reasons.append(
                f"send lag p50 {lag_p50_ms:.2f} ms > idle {b50:.2f} + {criteria.lag_p50_limit_ms:g}"
            )
        if lag_p99_ms is not None and lag_p99_ms - b99 > criteria.lag_p99_limit_ms:
            reasons.append(
                f"send lag p99 {lag_p99_ms:.2f} ms > idle {b99:.2f} + {criteria.lag_p99_limit_ms:g}"
            )
    return reasons


def _bracket(
    probes: Sequence[ProbeResult], confirm: int
) -> tuple[ProbeResult | None, float | None, bool]:
    """(best pass below the lowest failing rate, that rate, whether its failure is confirmed).

    A rate passes if any probe at it passed (one bad probe on a busy machine is noise); it
    fails once ``confirm`` probes at it failed; fewer failures leave it pending.
    """
    rates: dict[float, list[ProbeResult]] = {}
    for p in probes:
        rates.setdefault(p.target_rps, []).append(p)
    failing = sorted(r for r, ps in rates.items() if not any(p.passed for p in ps))
    low_fail = failing[0] if failing else None
    confirmed = low_fail is not None and len(rates[low_fail]) >= confirm
    best: ProbeResult | None = None
    for r, ps in rates.items():
        if (low_fail is None or r < low_fail) and any(p.passed for p in ps):
            cand = max((p for p in ps if p.passed), key=lambda p: p.sent_rps)
            if best is None or r > best.target_rps:
                best = cand
    return best, low_fail, confirmed


def next_rate(probes: Sequence[ProbeResult], plan: SearchPlan) -> float | None:
    """The next rate to probe, or None when the search is over."""
    if len(probes) >= plan.max_probes:
        return None
    if not probes:
        return plan.start_rps
    best, low_fail, confirmed = _bracket(probes, plan.confirm)
    if low_fail is None:
        assert best is not None
        if best.target_rps >= plan.max_rps:
            return None
        return min(plan.max_rps, best.target_rps * 2)
    if not confirmed:
        return low_fail  # probe the same rate again before believing the failure
    if best is None:
        # nothing passed yet: go down until something does (or give up below 1 req/s)
        nxt = low_fail / 4
        return nxt if nxt >= 1.0 else None
    if (low_fail - best.target_rps) <= plan.tolerance * low_fail:
        return None
    return (best.target_rps + low_fail) / 2


def find_knee(probes: Sequence[ProbeResult], plan: SearchPlan) -> Knee:
    """Highest passing rate below the lowest failing rate (confirmed or not)."""
    best, low_fail, _ = _bracket(probes, plan.confirm)
    fails = [p for p in probes if p.target_rps == low_fail and not p.passed]
    first_fail = fails[-1] if fails else None
    if first_fail is None:
        bound = "max_rate" if best is not None and best.target_rps >= plan.max_rps else "none"
    elif any("simulator busy" in r for f in fails for r in f.reasons):
        bound = "simulator"
    else:
        bound = "generator"
    return Knee(
        ceiling_rps=best.sent_rps if best is not None else 0.0,
        ceiling_chunks_per_s=best.chunks_per_s if best is not None else 0.0,
        first_failure_rps=low_fail,
        bound_by=bound,
        reasons=tuple(first_fail.reasons) if first_fail is not None else (),
    )


def _q(values: list[float], q: float) -> float | None:
    return percentile(values, q) if values else None


def probe_result(
    records: Iterable[RequestRecord],
    target_rps: float,
    window: tuple[int, int],
    dropped: int,
    criteria: Criteria,
    generator_cpu: float | None = None,
    simulator_cpu: float | None = None,
    baseline: tuple[float, float] = (0.0, 0.0),
) -> ProbeResult:
    """Judge one probe from its records: requests *scheduled* inside ``window`` (ns) count."""
    start, end = window
    secs = max((end - start) / NS_PER_S, 1e-9)
    sent = 0
    completed = 0
    errors = 0
    chunks = 0
    lags: list[float] = []
    for r in records:
        when = r.scheduled_ns if r.scheduled_ns is not None else r.sent_ns
        if not start <= when < end:
            continue
        sent += 1
        if r.scheduled_ns is not None:
            lags.append((r.sent_ns - r.scheduled_ns) / NS_PER_MS)
        if r.ok:
            completed += 1
            chunks += len(r.chunks)
        else:
            errors += 1
    lags.sort()
    sent_rps = sent / secs
    lag50, lag99 = _q(lags, 0.50), _q(lags, 0.99)
    reasons = judge(
        target_rps, sent_rps, errors, completed, dropped, lag50, lag99, criteria, baseline
    )
    if reasons and simulator_cpu is not None and simulator_cpu >= criteria.simulator_busy:
        reasons.append(f"simulator busy ({simulator_cpu:.0%} of a core)")
    return ProbeResult(
        target_rps=target_rps,
        sent_rps=sent_rps,
        completed_rps=completed / secs,
        chunks_per_s=chunks / secs,
        lag_p50_ms=lag50,
        lag_p99_ms=lag99,
        errors=errors,
        dropped=dropped,
        generator_cpu=generator_cpu,
        simulator_cpu=simulator_cpu,
        passed=not reasons,
        reasons=reasons,
    )


def timing_error_figures(records: Iterable[RequestRecord], rate_rps: float) -> TimingErrorFigures:
    """p50/p99 of |client - server| TTFT and chunk gaps over successful requests."""
    ttft: list[float] = []
    gaps: list[float] = []
    n = 0
    for r in records:
        if not r.ok:
            continue
        t, g = timing_errors(r)
        if t is None and not g:
            continue
        n += 1
        if t is not None:
            ttft.append(abs(t))
        gaps.extend(abs(x) for x in g)
    ttft.sort()
    gaps.sort()
    return TimingErrorFigures(
        rate_rps=rate_rps,
        requests=n,
        ttft_abs_p50_ms=_q(ttft, 0.50),
        ttft_abs_p99_ms=_q(ttft, 0.99),
        gap_abs_p50_ms=_q(gaps, 0.50),
        gap_abs_p99_ms=_q(gaps, 0.99),
    )


__all__ = [
    "Criteria",
    "Knee",
    "SearchPlan",
    "find_knee",
    "judge",
    "next_rate",
    "probe_result",
    "timing_error_figures",
]
