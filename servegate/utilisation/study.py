"""The utilisation study end to end: measure a replica, run the day both ways, price it, judge.

The verdict is computed, never assumed: each of the seed's two ranges is checked against the
measured figure under three readings of "utilisation" (DCGM busy fraction, batch occupancy,
served share of SLO capacity), because they disagree and a reader must see by how much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from servegate.config.prices import GpuPrice
from servegate.metrics.cost import usd_for_gpu_hours, usd_per_million_tokens_total
from servegate.sim.settings import SimSettings
from servegate.utilisation.capacity import Curve, RequestMix, engine_config, measure_curve
from servegate.utilisation.policy import Policy
from servegate.utilisation.serve import Tally, run_autoscaled, run_static
from servegate.utilisation.trace import TraceShape, demand

# The seed's claim, as ranges of a fraction.
STATIC_IDLE_CLAIM = (0.40, 0.60)
DYNAMIC_UTIL_CLAIM = (0.80, 0.90)
FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)


@dataclass(frozen=True, slots=True)
class StudyInput:
    """What the study runs with: engine settings, traffic, day, autoscaler, price and SLO."""

    sim: SimSettings
    mix: RequestMix
    shape: TraceShape
    policy: Policy
    price: GpuPrice
    gpu_product: str
    ttft_limit_s: float = 2.0  # MLPerf llama3.1-8b server p99 TTFT
    tpot_limit_s: float = 0.1  # MLPerf llama3.1-8b server p99 TPOT
    seconds_per_rate: float = 180.0  # simulated time measured at each rate of the curve


def _within(x: float, lo_hi: tuple[float, float]) -> str:
    lo, hi = lo_hi
    return "within" if lo <= x <= hi else ("below" if x < lo else "above")


def verdict(static: dict[str, Any], auto: dict[str, Any]) -> dict[str, Any]:
    """Where each measured figure falls against the seed's ranges, per reading."""
    out: dict[str, Any] = {}
    for key, label in (
        ("gpu_util_busy", "dcgm_busy"),
        ("batch_occupancy", "batch_occupancy"),
        ("capacity_util", "capacity"),
    ):
        s_idle = 1.0 - static[key]
        a_util = auto[key]
        out[label] = {
            "static_idle": s_idle,
            "static_idle_vs_40_60": _within(s_idle, STATIC_IDLE_CLAIM),
            "autoscaled_util": a_util,
            "autoscaled_util_vs_80_90": _within(a_util, DYNAMIC_UTIL_CLAIM),
        }
    return out


def priced(tally: Tally, slo_rps: float, price: GpuPrice) -> dict[str, Any]:
    """The tally's figures plus the cost of the day, per million output tokens, per 1k requests."""
    f = tally.figures(slo_rps)
    usd = usd_for_gpu_hours(f["gpu_hours"], price.usd_per_hour)
    f["usd"] = usd
    f["usd_per_million_output_tokens"] = usd_per_million_tokens_total(usd, f["output_tokens"])
    f["usd_per_1k_requests"] = usd / f["served"] * 1e3
    return f


def run_study(inp: StudyInput) -> dict[str, Any]:
    """Every figure of the study as a JSON-ready dict."""
    cfg = engine_config(inp.sim)
    curve: Curve = measure_curve(
        cfg,
        inp.mix,
        fractions=FRACTIONS,
        ttft_limit_s=inp.ttft_limit_s,
        tpot_limit_s=inp.tpot_limit_s,
        seconds=inp.seconds_per_rate,
        seed=inp.sim.seed,
    )
    trace = demand(inp.shape)
    static_n = math.ceil(max(trace) / curve.slo_rps)
    policy = inp.policy.model_copy(update={"max_replicas": max(inp.policy.max_replicas, static_n)})
    runs = {
        "static": run_static(trace, curve, inp.mix, static_n),
        "autoscaled": run_autoscaled(trace, curve, inp.mix, policy),
    }
    figures = {name: priced(t, curve.slo_rps, inp.price) for name, t in runs.items()}
    return {
        "schema_version": 1,
        "gpu_product": inp.gpu_product,
        "price": inp.price.model_dump(),
        "slo": {"p99_ttft_s": inp.ttft_limit_s, "p99_tpot_s": inp.tpot_limit_s},
        "mix": {
            "prompt_mean": inp.mix.prompt.mean,
            "prompt_stdev": inp.mix.prompt.stdev,
            "output_mean": inp.mix.output.mean,
            "output_stdev": inp.mix.output.stdev,
        },
        "trace": {
            "peak_rps": max(trace),
            "min_rps": min(trace),
            "mean_rps": sum(trace) / len(trace),
            "seed": inp.shape.seed,
        },
        "calibration": {
            "slo_rps_per_replica": curve.slo_rps,
            "max_rps_per_replica": curve.max_rps,
            "points": [
                {
                    "rps": p.rps,
                    "busy": p.busy,
                    "occupancy": p.occupancy,
                    "tokens_per_s": p.tokens_per_s,
                    "p99_ttft_s": p.p99_ttft_s,
                    "p99_tpot_s": p.p99_tpot_s,
                    "stable": p.stable,
                }
                for p in curve.points
            ],
        },
        "static_replicas": static_n,
        "policy": policy.model_dump(),
        "results": figures,
        "replicas_by_minute": {k: v.replicas for k, v in runs.items()},
        "verdict": verdict(figures["static"], figures["autoscaled"]),
    }


ROWS = (
    ("gpu_hours", "GPU-hours", "{:.1f}"),
    ("peak_replicas", "peak replicas", "{:d}"),
    ("gpu_util_busy", "GPU util, DCGM busy fraction", "{:.1%}"),
    ("idle_fraction", "idle fraction (1 - busy)", "{:.1%}"),
    ("batch_occupancy", "batch occupancy (running/max_num_seqs)", "{:.1%}"),
    ("capacity_util", "served / SLO capacity held", "{:.1%}"),
    ("slo_violation_minutes", "SLO-violation minutes", "{:d}"),
    ("worst_p99_ttft_s", "worst-minute p99 TTFT proxy (s)", "{:.2f}"),
    ("usd", "cost of the day (USD)", "{:.2f}"),
    ("usd_per_million_output_tokens", "USD per 1M output tokens", "{:.4f}"),
    ("usd_per_1k_requests", "USD per 1k requests", "{:.4f}"),
)


def to_markdown(doc: dict[str, Any]) -> str:
    """The study as a Markdown table plus the verdict lines."""
    s, a = doc["results"]["static"], doc["results"]["autoscaled"]
    curve = doc["calibration"]
    lines = [
        "# GPU utilisation on a simulated day: static vs autoscaled",
        "",
        f"GPU {doc['gpu_product']} at ${doc['price']['usd_per_hour']:.2f}/h "
        f"({doc['price']['source']}). One replica meets the SLO up to "
        f"{curve['slo_rps_per_replica']:.2f} req/s; demand peaks at "
        f"{doc['trace']['peak_rps']:.1f} req/s, so static holds {doc['static_replicas']} GPUs.",
        "",
        "| figure | static | autoscaled |",
        "|---|---|---|",
    ]
    for key, label, fmt in ROWS:
        lines.append(f"| {label} | {fmt.format(s[key])} | {fmt.format(a[key])} |")
    lines += ["", "## Against the seed's claim", ""]
    for reading, v in doc["verdict"].items():
        lines.append(
            f"- {reading}: static idle {v['static_idle']:.1%} is {v['static_idle_vs_40_60']} "
            f"40-60%; autoscaled utilisation {v['autoscaled_util']:.1%} is "
            f"{v['autoscaled_util_vs_80_90']} 80-90%."
        )
    return "\n".join(lines) + "\n"


def replicas_figure(doc: dict[str, Any]) -> dict[str, Any]:
    """Replicas by minute of the day, static against autoscaled (a Plotly figure)."""
    series = doc["replicas_by_minute"]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "x": [m / 60 for m in range(len(reps))],
                "y": reps,
                "line": {"shape": "hv"},
            }
            for name, reps in series.items()
        ],
        "layout": {
            "title": {"text": "Replicas over the simulated day"},
            "xaxis": {"title": {"text": "hour"}},
            "yaxis": {"title": {"text": "replicas (GPUs)"}},
        },
    }


__all__ = [
    "StudyInput",
    "priced",
    "replicas_figure",
    "run_study",
    "to_markdown",
    "verdict",
]
