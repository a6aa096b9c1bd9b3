"""Checking a summary against an :class:`SLOSpec`, and each request against its thresholds."""

from __future__ import annotations

from servegate.config.slo import SLOSpec
from servegate.metrics.derive import Derived
from servegate.metrics.summary import Counts, Latency, SLOResult, Verdict


def meets(d: Derived, thresholds: dict[str, float]) -> bool:
    """Whether one successful request met every per-request threshold it has a value for."""
    for metric, limit in thresholds.items():
        v = d.value(metric)
        if v is not None and v > limit:
            return False
    return True


def evaluate(spec: SLOSpec, latency: Latency, counts: Counts) -> SLOResult:
    """Pass/fail per limit with the observed value. A limit with no samples fails."""
    verdicts: list[Verdict] = []
    for lim in spec.limits:
        observed = getattr(latency, lim.metric).stat(lim.stat)
        passed = observed is not None and observed <= lim.max_ms
        verdicts.append(Verdict(key=lim.key, limit=lim.max_ms, observed=observed, passed=passed))
    if spec.max_error_rate is not None:
        rate = counts.error_rate
        verdicts.append(
            Verdict(
                key="error_rate",
                limit=spec.max_error_rate,
                observed=rate,
                passed=rate is not None and rate <= spec.max_error_rate,
            )
        )
    return SLOResult(
        spec=spec,
        passed=all(v.passed for v in verdicts),
        verdicts=verdicts,
        request_thresholds_ms=spec.request_thresholds(),
    )
