"""Statistics over the repeats of one profile, and the test ``servegate compare`` gates with.

``repeats: N`` runs a profile N times with seeds ``seed``, ``seed + 1``, ... Each headline
figure then has N per-repeat values, summarised by:

- the mean;
- a percentile bootstrap confidence interval of the mean (scipy.stats.bootstrap,
  ``BOOTSTRAP_RESAMPLES`` resamples of the per-repeat values, confidence ``CONFIDENCE``,
  generator seeded with ``BOOTSTRAP_SEED`` so the same values always give the same interval);
- the coefficient of variation: sample standard deviation (n - 1) over the mean.

A change between two sets of repeats is significant when the one-sided Mann-Whitney U test
(scipy.stats.mannwhitneyu, exact for small samples without ties) rejects "the new values are
not worse than the base values" at ``ALPHA``. With 3 repeats a side only a complete
separation reaches p = 0.05; 5 a side give the test more power.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from servegate.config.base import StrictModel
from servegate.metrics.stats import Dist
from servegate.metrics.summary import Summary

REPEATS_FILE = "repeats.json"
BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
ALPHA = 0.05

HEADLINE = (
    *(f"{m}.{s}" for m in ("ttft", "tpot", "itl", "e2e") for s in ("p50", "p99")),
    "throughput.output_tokens_per_s",
    "throughput.requests_per_s",
    "throughput.goodput_per_s",
    "error_rate",
)

METHOD: dict[str, str | float | int] = {
    "ci": "percentile bootstrap of the mean of the per-repeat values (scipy.stats.bootstrap)",
    "confidence": CONFIDENCE,
    "resamples": BOOTSTRAP_RESAMPLES,
    "seed": BOOTSTRAP_SEED,
    "cv": "sample standard deviation (n - 1) / mean of the per-repeat values",
}
TEST_NAME = "one-sided Mann-Whitney U on per-repeat values"


def higher_is_better(key: str) -> bool:
    return key.startswith("throughput.")


def figure(summary: Summary, key: str) -> float | None:
    """A headline figure of a summary by key: ``ttft.p99``, ``throughput.<field>``,
    ``error_rate``."""
    if key == "error_rate":
        return summary.counts.error_rate
    if key.startswith("throughput."):
        v: float | None = getattr(summary.throughput, key.split(".", 1)[1])
        return v
    metric, stat = key.split(".", 1)
    dist: Dist = getattr(summary.latency, metric)
    return dist.stat(stat)


class FigureStats(StrictModel):
    values: list[float | None] = Field(..., description="one per repeat, in repeat order")
    n: int = Field(..., description="repeats that have the figure")
    mean: float | None
    ci_low: float | None = Field(..., description="bootstrap CI of the mean; None below 2")
    ci_high: float | None
    cv: float | None = Field(..., description="None below 2 values or with a zero mean")


class RepeatSummary(StrictModel):
    schema_version: Literal[1] = 1
    profile_name: str
    runs: list[str] = Field(..., description="run directories of the repeats, in order")
    seeds: list[int]
    method: dict[str, str | float | int]
    figures: dict[str, FigureStats]


def mean_ci(values: Sequence[float]) -> tuple[float, float] | None:
    """The percentile bootstrap interval of the mean; None for fewer than two values."""
    xs = [float(v) for v in values]
    if len(xs) < 2:
        return None
    if min(xs) == max(xs):  # no spread: every resample has the same mean
        return xs[0], xs[0]
    import numpy as np
    from scipy.stats import bootstrap

    res = bootstrap(
        (np.asarray(xs),),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = math.fsum(values) / len(values)
    if mean == 0:
        return None
    return statistics.stdev(values) / abs(mean)


def figure_stats(values: Sequence[float | None]) -> FigureStats:
    xs = [v for v in values if v is not None]
    ci = mean_ci(xs)
    return FigureStats(
        values=list(values),
        n=len(xs),
        mean=math.fsum(xs) / len(xs) if xs else None,
        ci_low=None if ci is None else ci[0],
        ci_high=None if ci is None else ci[1],
        cv=coefficient_of_variation(xs),
    )


def summarize_repeats(
    profile_name: str, runs: Sequence[str], seeds: Sequence[int], summaries: Sequence[Summary]
) -> RepeatSummary:
    return RepeatSummary(
        profile_name=profile_name,
        runs=list(runs),
        seeds=list(seeds),
        method=dict(METHOD),
        figures={k: figure_stats([figure(s, k) for s in summaries]) for k in HEADLINE},
    )


def worse_p_value(base: Sequence[float], new: Sequence[float], key: str) -> float | None:
    """p-value of the one-sided Mann-Whitney U test that ``new`` is worse than ``base``
    (larger, or smaller for throughput). None when a side has fewer than two values."""
    if len(base) < 2 or len(new) < 2:
        return None
    if len({*base, *new}) == 1:
        return 1.0  # every value equal: nothing moved
    from scipy.stats import mannwhitneyu

    alternative = "less" if higher_is_better(key) else "greater"
    return float(mannwhitneyu(list(new), list(base), alternative=alternative).pvalue)
