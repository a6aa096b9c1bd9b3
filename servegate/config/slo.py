"""Service-level objectives: percentile limits on latency metrics plus an error-rate ceiling.

An SLO is declared once, in YAML or by preset name, and used twice: summary figures are
checked against each limit (pass/fail with the observed value), and each limit's threshold is
also applied to every single request to count goodput (requests that met every objective).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from servegate.config.base import StrictModel, load_yaml_file
from servegate.errors import ConfigError

SLOMetric = Literal["ttft", "tpot", "itl", "e2e", "e2e_with_queue", "ntpot", "queue"]
SLOStat = Literal["p50", "p90", "p95", "p99", "p99_9", "mean", "max"]

# Metrics that have one value per request, so a per-request threshold makes sense for goodput.
# ITL has one value per token gap and is therefore checked on the summary only.
PER_REQUEST_METRICS: frozenset[str] = frozenset(
    {"ttft", "tpot", "e2e", "e2e_with_queue", "ntpot", "queue"}
)


class SLOLimit(StrictModel):
    """``<stat>(<metric>) <= max_ms``, for example p99 TTFT <= 2000 ms."""

    metric: SLOMetric = Field(..., description="latency metric, as defined in docs/metrics.md")
    stat: SLOStat = Field("p99", description="percentile (p99_9 is p99.9), mean or max")
    max_ms: float = Field(..., gt=0, description="upper limit in milliseconds")

    @property
    def key(self) -> str:
        return f"{self.metric}.{self.stat}"


class SLOSpec(StrictModel):
    """A named set of limits. At least one latency limit or an error-rate ceiling is required."""

    name: str = Field(..., min_length=1, description="shown in reports")
    description: str = Field("", description="free text, shown in reports")
    limits: list[SLOLimit] = Field(default_factory=list, description="latency limits")
    max_error_rate: float | None = Field(
        None, ge=0, le=1, description="largest allowed fraction of failed requests"
    )

    @model_validator(mode="after")
    def _check(self) -> SLOSpec:
        if not self.limits and self.max_error_rate is None:
            raise ValueError("an SLO needs at least one limit or max_error_rate")
        keys = [lim.key for lim in self.limits]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate limits: {', '.join(dupes)}")
        return self

    def request_thresholds(self) -> dict[str, float]:
        """Per-request thresholds for goodput: for each per-request metric, its loosest limit.

        The loosest, because a p50 limit is not meant to hold for every request.
        """
        out: dict[str, float] = {}
        for lim in self.limits:
            if lim.metric in PER_REQUEST_METRICS:
                out[lim.metric] = max(out.get(lim.metric, 0.0), lim.max_ms)
        return out


def _mlperf(model: str, scenario: str, ttft_ms: float, tpot_ms: float) -> SLOSpec:
    return SLOSpec(
        name=f"mlperf-{model}-{scenario}",
        description=f"MLPerf Inference {model} {scenario}: p99 TTFT and p99 TPOT limits",
        limits=[
            SLOLimit(metric="ttft", stat="p99", max_ms=ttft_ms),
            SLOLimit(metric="tpot", stat="p99", max_ms=tpot_ms),
        ],
    )


PRESETS: dict[str, SLOSpec] = {
    s.name: s
    for s in (
        _mlperf("llama2-70b", "server", 2000, 200),
        _mlperf("llama2-70b", "interactive", 450, 40),
        _mlperf("llama3.1-8b", "server", 2000, 100),
        _mlperf("llama3.1-8b", "interactive", 500, 30),
    )
}


def slo_preset(name: str) -> SLOSpec:
    """A copy of a built-in preset. Raises :class:`ConfigError` naming the known presets."""
    try:
        return PRESETS[name].model_copy(deep=True)
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"unknown SLO preset {name!r} (known: {known})") from None


def load_slo(name_or_path: str | Path) -> SLOSpec:
    """A preset by name, or an SLO YAML file by path."""
    text = str(name_or_path)
    if text in PRESETS:
        return slo_preset(text)
    p = Path(name_or_path)
    if not p.exists() and p.suffix not in (".yaml", ".yml"):
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"{text}: neither an SLO file nor a preset (presets: {known})")
    return load_yaml_file(p, SLOSpec)
