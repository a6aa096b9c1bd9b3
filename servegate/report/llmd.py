"""A servegate run as an llm-d Benchmark Report, format v0.2.

The format is llm-d-benchmark's (its JSON Schema is vendored in
schemas/vendor/llm-d-benchmark-report-v0.2.schema.json; where it came from is in the
SOURCE note beside it). What servegate maps into it:

- ``run``: the run id (uid), the profile name (eid), the start, end and length of the
  measured window;
- ``scenario.stack``: one generic component, the endpoint and its model (servegate does not
  know the engine's flags when it did not deploy it); ``scenario.load``: servegate and the
  profile (its lengths, its closed-loop concurrency or open-loop rate), the profile verbatim
  under ``native.config``;
- ``results.request_performance``: the measured window's requests, latencies (TTFT, TPOT,
  ITL, NTPOT, E2E as ``request_latency``; milliseconds) and throughput, and the per-second
  time series;
- ``results.observability``: the server metrics sampled during the run (server.json), when
  there are any: KV-cache use, GPU utilisation and memory, running and waiting requests.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import orjson

from servegate.metrics.server import ServerSeries
from servegate.metrics.stats import Dist
from servegate.metrics.summary import Summary

VERSION = "0.2"
COMPONENT = "endpoint-0"
_DIST_KINDS = {"constant": "fixed", "uniform": "uniform", "normal": "gaussian"}
_PCTS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99_9": "p99p9"}


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def _hash(doc: Any) -> str:
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def stats(d: Dist, units: str) -> dict[str, Any] | None:
    """A Statistics object of a distribution, or None when it has no samples."""
    if not d.count or d.mean is None:
        return None
    out: dict[str, Any] = {"units": units, "mean": d.mean, "min": d.min, "max": d.max}
    out.update({theirs: getattr(d, ours) for ours, theirs in _PCTS.items()})
    return {k: v for k, v in out.items() if v is not None}


def _seq_len(spec: Any) -> dict[str, Any] | None:
    if not isinstance(spec, dict) or "mean" not in spec:
        return None
    out: dict[str, Any] = {
        "distribution": _DIST_KINDS.get(str(spec.get("dist")), "other"),
        "value": spec["mean"],
    }
    if isinstance(spec.get("stdev"), int | float):
        out["std_dev"] = spec["stdev"]
    for k in ("min", "max"):
        if isinstance(spec.get(k), int) and spec[k] >= (1 if k == "max" else 0):
            out[k] = spec[k]
    return out


def _load(summary: Summary, profile: dict[str, Any]) -> dict[str, Any]:
    ok = summary.counts.succeeded
    measured = {
        "distribution": "other",
        "value": summary.tokens.input_total / ok if ok else 0,
    }
    sampled = any(profile.get(k) for k in ("dataset", "trace"))
    std: dict[str, Any] = {
        "tool": "servegate",
        "tool_version": _version(),
        "parallelism": max(1, summary.run.workers),
        "source": "sampled" if sampled else "random",
        "input_seq_len": _seq_len(profile.get("prompt")) or measured,
    }
    if out := _seq_len(profile.get("output")):
        std["output_seq_len"] = out
    shape, load = profile.get("shape") or {}, profile.get("load") or {}
    level = shape.get("level") if isinstance(shape, dict) else None
    if isinstance(level, int | float) and level > 0:
        if isinstance(load, dict) and load.get("type") == "open":
            std["rate_qps"] = float(level)
        elif level >= 1:
            std["concurrency"] = level
    return {
        "metadata": {"cfg_id": _hash(profile), "description": profile.get("description") or None},
        "standardized": std,
        "native": {"config": profile},
    }


def _version() -> str:
    try:
        return metadata.version("servegate")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _time_series(summary: Summary) -> dict[str, Any]:
    t0 = summary.run.start_ns
    pts = summary.timeseries

    def series(units: str, field: str) -> dict[str, Any]:
        return {
            "units": units,
            "series": [
                {"ts": _iso(t0 + p.t_s * 1_000_000_000), "value": float(getattr(p, field))}
                for p in pts
            ],
        }

    ttft = [
        {
            "ts": _iso(t0 + p.t_s * 1_000_000_000),
            **({"p50": p.ttft_p50_ms} if p.ttft_p50_ms is not None else {}),
            **({"p99": p.ttft_p99_ms} if p.ttft_p99_ms is not None else {}),
        }
        for p in pts
    ]
    return {
        "throughput": {
            "output_token_rate": series("tokens/s", "output_tokens"),
            "request_rate": series("queries/s", "requests_ok"),
        },
        "latency": {"time_to_first_token": {"units": "ms", "series": ttft}},
    }


_RESOURCES = {
    # servegate series -> (llm-d resource metric, units)
    "kv_cache_pct": ("kv_cache_usage", "percent"),
    "gpu_util_pct": ("gpu_utilization", "percent"),
    "gpu_fb_used_mib": ("gpu_memory_usage", "MiB"),
    "running": ("running_requests", "count"),
    "waiting": ("waiting_requests", "count"),
}
_RESOURCE_SERIES = ("kv_cache_usage", "gpu_utilization", "gpu_memory_usage")


def _observability(summary: Summary, server: ServerSeries) -> dict[str, Any] | None:
    aggregate: dict[str, Any] = {}
    series: dict[str, Any] = {}
    for ours, (theirs, units) in _RESOURCES.items():
        d = server.window.get(ours)
        if d is not None and (st := stats(d, units)) is not None:
            aggregate[theirs] = st
        if theirs in _RESOURCE_SERIES and ours in server.series:
            pts = [
                {"ts": _iso(summary.run.start_ns + int(t * 1e9)), "value": v}
                for t, v in zip(server.t_s, server.series[ours], strict=True)
                if v is not None
            ]
            series[theirs] = {"units": units, "series": pts}
    if not aggregate and not series:
        return None
    comp: dict[str, Any] = {"component_label": COMPONENT, "aggregate": aggregate or None}
    if series:
        comp["time_series"] = series
    return {"components": [comp]}


def to_llmd_report(
    summary: Summary, profile: dict[str, Any], server: ServerSeries | None = None
) -> dict[str, Any]:
    """The run as an llm-d Benchmark Report v0.2 document (a JSON-able dict)."""
    r = summary.run
    lat = summary.latency
    latency = {
        "time_to_first_token": stats(lat.ttft, "ms"),
        "time_per_output_token": stats(lat.tpot, "ms/token"),
        "inter_token_latency": stats(lat.itl, "ms/token"),
        "normalized_time_per_output_token": stats(lat.ntpot, "ms/token"),
        "request_latency": stats(lat.e2e, "ms"),
    }
    th = summary.throughput
    throughput = {
        "output_token_rate": {"units": "tokens/s", "mean": th.output_tokens_per_s},
        "input_token_rate": {"units": "tokens/s", "mean": th.input_tokens_per_s},
        "total_token_rate": {
            "units": "tokens/s",
            "mean": th.input_tokens_per_s + th.output_tokens_per_s,
        },
        "request_rate": {"units": "queries/s", "mean": th.requests_per_s},
    }
    requests: dict[str, Any] = {"total": summary.counts.total, "failures": summary.counts.failed}
    if (out_len := stats(summary.tokens.per_request_output, "count")) is not None:
        requests["output_length"] = out_len
    endpoint = {"endpoint": r.endpoint, "model": r.model}
    results: dict[str, Any] = {
        "request_performance": {
            "aggregate": {
                "requests": requests,
                "latency": {k: v for k, v in latency.items() if v is not None},
                "throughput": throughput,
            },
            "time_series": _time_series(summary),
        }
    }
    if server is not None and (obs := _observability(summary, server)) is not None:
        results["observability"] = obs
    return {
        "version": VERSION,
        "run": {
            "uid": r.run_id,
            "eid": r.profile_name,
            "time": {
                "start": _iso(r.window.start_ns),
                "end": _iso(r.window.end_ns),
                "duration": f"PT{r.window_s:.3f}S",
            },
            "description": f"servegate run {r.run_id} of profile {r.profile_name}",
            "keywords": ["servegate", r.profile_name],
        },
        "scenario": {
            "stack": [
                {
                    "metadata": {
                        "label": COMPONENT,
                        "cfg_id": _hash(endpoint),
                        "description": "the OpenAI-compatible endpoint servegate loaded",
                    },
                    "standardized": {
                        "kind": "generic",
                        "tool": "openai-compatible-endpoint",
                        "tool_version": "unknown",
                        **endpoint,
                    },
                    "native": {"config": endpoint},
                }
            ],
            "load": _load(summary, profile),
        },
        "results": results,
    }
