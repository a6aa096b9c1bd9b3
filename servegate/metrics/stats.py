"""Exact percentiles over raw samples, and the distribution summary every metric reports.

Percentiles use linear interpolation between the two closest ranks (Hyndman and Fan type 7,
numpy's default ``linear`` method, also used by vLLM's benchmark): for ``n`` sorted samples
``x`` and quantile ``q`` the rank is ``h = (n - 1) q`` and the value is
``x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from servegate.config.base import StrictModel

QUANTILES: dict[str, float] = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p99_9": 0.999}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Type-7 percentile of already sorted values; ``q`` in [0, 1]. Raises on empty input."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside [0, 1]")
    h = (len(sorted_values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


class Dist(StrictModel):
    """Summary of one metric's samples, in the metric's unit (milliseconds for latencies).

    Every statistic is ``None`` when there are no samples.
    """

    count: int = 0
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p99_9: float | None = None

    def stat(self, name: str) -> float | None:
        """A statistic by name (``p99``, ``p99_9``, ``mean``, ``max``, ``min``)."""
        if name not in _STAT_NAMES:
            raise KeyError(name)
        value: float | None = getattr(self, name)
        return value


_STAT_NAMES = frozenset({"mean", "min", "max", *QUANTILES})


def summarize(values: Iterable[float]) -> Dist:
    """Exact :class:`Dist` of the samples (sorted here; the input is not modified)."""
    xs = sorted(values)
    if not xs:
        return Dist()
    return Dist(
        count=len(xs),
        mean=math.fsum(xs) / len(xs),
        min=xs[0],
        max=xs[-1],
        **{name: percentile(xs, q) for name, q in QUANTILES.items()},
    )
