"""Server-side metrics sampled during a run, as time series beside the client's figures.

During a run a sampler (servegate.load.server_metrics) reads the endpoint's Prometheus
metrics every ``interval_s``, either straight from its ``/metrics`` or through the cluster's
Prometheus, and appends one JSON line per scrape to ``server_metrics.jsonl``:
``{"wall_ns": ..., "values": {metric: value}}`` or ``{"wall_ns": ..., "error": "..."}``.
Values are already aggregated over the endpoint's series (summed over replicas and label
sets, or averaged for fractions; :data:`RAW`). :func:`server_series` turns the lines into
``server.json``: series aligned with the client's time axis (seconds since run start),
counters turned into per-second rates between consecutive scrapes, and each series'
distribution over the measured window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field

from servegate.config.base import StrictModel
from servegate.metrics.run_meta import Span
from servegate.metrics.stats import Dist, summarize

SERVER_METRICS_FILE = "server_metrics.jsonl"
SERVER_FILE = "server.json"

Agg = Literal["sum", "mean"]
# Sample names read from the exposition (vLLM's and DCGM's) and how several series combine.
RAW: dict[str, Agg] = {
    "vllm:num_requests_waiting": "sum",
    "vllm:num_requests_running": "sum",
    "vllm:kv_cache_usage_perc": "mean",
    "vllm:gpu_cache_usage_perc": "mean",
    "vllm:generation_tokens_total": "sum",
    "vllm:prompt_tokens_total": "sum",
    "DCGM_FI_DEV_GPU_UTIL": "mean",
    "DCGM_FI_DEV_FB_USED": "sum",
}


class SeriesDef(StrictModel):
    sources: tuple[str, ...] = Field(..., description="raw names, first present wins")
    counter: bool = False
    scale: float = 1.0
    unit: str
    label: str


SERIES: dict[str, SeriesDef] = {
    "waiting": SeriesDef(
        sources=("vllm:num_requests_waiting",), unit="requests", label="waiting (server)"
    ),
    "running": SeriesDef(
        sources=("vllm:num_requests_running",), unit="requests", label="running (server)"
    ),
    "kv_cache_pct": SeriesDef(
        sources=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        scale=100.0,
        unit="%",
        label="KV-cache use %",
    ),
    "generation_tokens_per_s": SeriesDef(
        sources=("vllm:generation_tokens_total",),
        counter=True,
        unit="tokens/s",
        label="generated tokens/s (server)",
    ),
    "prompt_tokens_per_s": SeriesDef(
        sources=("vllm:prompt_tokens_total",),
        counter=True,
        unit="tokens/s",
        label="prompt tokens/s (server)",
    ),
    "gpu_util_pct": SeriesDef(sources=("DCGM_FI_DEV_GPU_UTIL",), unit="%", label="GPU util %"),
    "gpu_fb_used_mib": SeriesDef(
        sources=("DCGM_FI_DEV_FB_USED",), unit="MiB", label="GPU memory used MiB"
    ),
}


def parse_exposition(text: str) -> dict[str, float]:
    """The :data:`RAW` samples of a Prometheus text exposition, aggregated per name.

    Raises ValueError when the text is not the Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    seen: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in RAW:
                seen.setdefault(s.name, []).append(float(s.value))
    return {
        name: (sum(vs) if RAW[name] == "sum" else sum(vs) / len(vs)) for name, vs in seen.items()
    }


class ServerSeries(StrictModel):
    source: str = Field(..., description="where the metrics were read")
    interval_s: float
    scrapes: int
    errors: int
    first_error: str | None
    t_s: list[float] = Field(..., description="seconds since run start of each good scrape")
    series: dict[str, list[float | None]] = Field(
        ..., description="per SERIES name present, one value per t_s (rates: None at first)"
    )
    window: dict[str, Dist] = Field(
        ..., description="each series' distribution over the scrapes inside the window"
    )


def _pick(values: Mapping[str, float], d: SeriesDef) -> float | None:
    for src in d.sources:
        if src in values:
            return values[src] * d.scale
    return None


def server_series(lines: Iterable[Mapping[str, Any]], start_ns: int, window: Span) -> ServerSeries:
    """The time series of a run's scrapes (see the module doc); ``lines`` in file order."""
    header: Mapping[str, Any] = {}
    good: list[tuple[int, Mapping[str, float]]] = []
    errors, first_error, scrapes = 0, None, 0
    for line in lines:
        if "source" in line:
            header = line
            continue
        scrapes += 1
        if "error" in line:
            errors += 1
            first_error = first_error or str(line["error"])
            continue
        good.append((int(line["wall_ns"]), line.get("values") or {}))
    good.sort(key=lambda g: g[0])
    t_s = [(ns - start_ns) / 1e9 for ns, _ in good]
    series: dict[str, list[float | None]] = {}
    for name, d in SERIES.items():
        raw = [_pick(v, d) for _, v in good]
        if all(x is None for x in raw):
            continue
        if d.counter:
            rates: list[float | None] = [None]
            for i in range(1, len(raw)):
                a, b = raw[i - 1], raw[i]
                dt = (good[i][0] - good[i - 1][0]) / 1e9
                ok = a is not None and b is not None and b >= a and dt > 0
                rates.append((b - a) / dt if ok and a is not None and b is not None else None)
            raw = rates
        series[name] = raw
    inside = [window.contains(ns) for ns, _ in good]
    stats = {
        name: summarize(x for x, keep in zip(xs, inside, strict=True) if keep and x is not None)
        for name, xs in series.items()
    }
    return ServerSeries(
        source=str(header.get("source", "unknown")),
        interval_s=float(header.get("interval_s", 0.0)),
        scrapes=scrapes,
        errors=errors,
        first_error=first_error,
        t_s=t_s,
        series=series,
        window=stats,
    )
