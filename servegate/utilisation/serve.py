"""A day of demand served by static and by autoscaled GPU allocation, minute by minute.

This measures the seed's claim ("static GPU allocation leads to 40-60% idle time; dynamic
scheduling achieves 80-90% GPU utilization") instead of assuming it. Per replica, capacity
and utilisation come from :mod:`servegate.utilisation.capacity` (the simulator's batching
engine run with a fake clock); the day (:mod:`servegate.utilisation.trace`) is stepped at
1-minute resolution as a fluid model (demand beyond what ready replicas can serve waits in a
backlog). Everything is deterministic for a given seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from servegate.utilisation.capacity import Curve, RequestMix
from servegate.utilisation.policy import Autoscaler, Policy


@dataclass(slots=True)
class Tally:
    """Day totals of one allocation strategy; ratios are derived from these sums."""

    name: str
    allocated_gpu_s: float = 0.0  # GPUs held (ready or starting), seconds
    busy_gpu_s: float = 0.0  # GPU time with a step in flight (DCGM GPU_UTIL)
    occupied_gpu_s: float = 0.0  # GPU time weighted by running / max_num_seqs
    requests: float = 0.0  # offered by the trace
    served: float = 0.0  # backlog drained included
    output_tokens: float = 0.0  # of the requests served
    slo_violation_minutes: int = 0
    worst_p99_ttft_s: float = 0.0  # the per-minute latency proxy of the worst minute
    max_backlog: float = 0.0  # most requests left waiting at the end of a minute
    replicas: list[int] = field(default_factory=list)  # GPUs held, per minute

    @property
    def peak_replicas(self) -> int:
        return max(self.replicas, default=0)

    def figures(self, slo_rps: float) -> dict[str, Any]:
        alloc = self.allocated_gpu_s
        return {
            "gpu_hours": alloc / 3600.0,
            "busy_gpu_hours": self.busy_gpu_s / 3600.0,
            "gpu_util_busy": self.busy_gpu_s / alloc,
            "idle_fraction": 1.0 - self.busy_gpu_s / alloc,
            "batch_occupancy": self.occupied_gpu_s / alloc,
            "capacity_util": self.served / (alloc * slo_rps),
            "requests": self.requests,
            "served": self.served,
            "output_tokens": self.output_tokens,
            "slo_violation_minutes": self.slo_violation_minutes,
            "worst_p99_ttft_s": self.worst_p99_ttft_s,
            "max_backlog": self.max_backlog,
            "peak_replicas": self.peak_replicas,
        }


def _serve_minute(
    t: Tally, curve: Curve, mix: RequestMix, rps: float, backlog: float, ready: int, held: int
) -> float:
    """Account one minute; return the backlog carried into the next."""
    t.requests += rps * 60.0
    t.allocated_gpu_s += held * 60.0
    t.replicas.append(held)
    want = rps * 60.0 + backlog
    if ready == 0:
        t.slo_violation_minutes += int(want > 0)
        t.max_backlog = max(t.max_backlog, want)
        return want
    per = want / 60.0 / ready
    served_rate = min(per, curve.max_rps)
    point = curve.at(served_rate)
    served = want if per <= curve.max_rps else served_rate * 60.0 * ready
    left = want - served
    t.served += served
    t.output_tokens += served * mix.output.mean
    t.busy_gpu_s += ready * point.busy * 60.0
    t.occupied_gpu_s += ready * point.occupancy * 60.0
    # Latency proxy: the measured p99 TTFT at this load, plus the wait to drain a backlog.
    p99 = point.p99_ttft_s + (left / (ready * curve.max_rps) if left > 0 else 0.0)
    t.worst_p99_ttft_s = max(t.worst_p99_ttft_s, p99)
    t.slo_violation_minutes += int(per > curve.slo_rps or left > 0)
    t.max_backlog = max(t.max_backlog, left)
    return left


def run_static(trace: list[float], curve: Curve, mix: RequestMix, replicas: int) -> Tally:
    """``replicas`` GPUs held and warm all day."""
    t = Tally("static")
    backlog = 0.0
    for rps in trace:
        backlog = _serve_minute(t, curve, mix, rps, backlog, replicas, replicas)
    return t


def run_autoscaled(trace: list[float], curve: Curve, mix: RequestMix, policy: Policy) -> Tally:
    """An HPA on offered load per ready replica (requests/s, backlog drain included).

    The target is ``target_fraction`` of one replica's SLO capacity on its measured curve, so
    the metric is a utilisation of what a replica can serve within the SLO; a deployment
    would export it from vLLM's request counters through a custom-metrics adapter.
    """
    t = Tally("autoscaled")
    target = policy.target_fraction * curve.slo_rps
    hpa = Autoscaler.warm(policy, math.ceil(trace[0] / target))
    backlog = 0.0
    next_sync = 0.0
    for m, rps in enumerate(trace):
        now = m * 60.0
        ready = hpa.ready(now)
        if now >= next_sync:
            offered = rps + backlog / 60.0
            # Nothing ready yet: report the load as if one replica took it all (scale up).
            hpa.evaluate(now, offered / max(ready, 1), target)
            next_sync = now + policy.sync_s
            ready = hpa.ready(now)
        backlog = _serve_minute(t, curve, mix, rps, backlog, ready, hpa.replicas)
    return t


__all__ = ["Tally", "run_autoscaled", "run_static"]
