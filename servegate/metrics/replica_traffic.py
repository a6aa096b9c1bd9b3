"""Did every replica take part in the load? Per-pod figures of an autoscaling series.

A Service balances connections, not requests: clients that keep their connections stay on
the pods they reached first, and a replica added under load may serve nothing. These pure
functions of a sampled series (servegate.metrics.scaling) say how long each pod was Ready
while the load ran, how many requests it completed, and judge "every replica that was Ready
for at least so long served some of the load".
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from servegate.metrics.scaling import REQUESTS, ScalingSample, served_unit


def ready_seconds(samples: Sequence[ScalingSample], start: float, stop: float) -> dict[str, float]:
    """Seconds each pod was Ready between ``start`` and ``stop`` (the series' time axis).

    The span between two consecutive samples counts for a pod Ready at both of them, so the
    figure is a lower bound, short by at most two sampling intervals. Every pod seen Ready
    at any sample is in the result (0.0 if it never was Ready inside the window)."""
    out: dict[str, float] = {}
    for s in samples:
        for pod in s.ready_pods or ():
            out.setdefault(pod, 0.0)
    for a, b in pairwise(samples):
        if a.ready_pods is None or b.ready_pods is None:
            continue
        lo, hi = max(a.t, start), min(b.t, stop)
        if hi <= lo:
            continue
        for pod in set(a.ready_pods) & set(b.ready_pods):
            out[pod] += hi - lo
    return out


def served_per_pod(samples: Sequence[ScalingSample]) -> dict[str, int]:
    """Work each pod completed, in the series' :func:`~servegate.metrics.scaling.served_unit`
    (requests, or llama-server's output tokens): the highest reading of its counter over the
    series (a counter only grows while its pod lives; a pod's last requests may fall after the
    last reading)."""
    out: dict[str, int] = {}
    for s in samples:
        for pod, n in s.served_by_pod.items():
            out[pod] = max(out.get(pod, 0), round(n))
    return out


def counts_recorded(samples: Sequence[ScalingSample]) -> bool:
    """Whether any sample carries per-pod request counts (they come from Prometheus)."""
    return any(s.served_by_pod for s in samples)


def pods_text(ready: dict[str, float] | None, served: dict[str, int], unit: str = REQUESTS) -> str:
    """``pod: N requests, Ready Ts`` for every pod, busiest first, on one line (without the
    Ready part when ``ready`` is None: the load's window is unknown); ``unit``: what the
    counts count (``N output tokens`` on llama-server)."""
    pods = sorted(set(ready or {}) | set(served), key=lambda p: (-served.get(p, 0), p))
    return "; ".join(
        f"{p}: {served.get(p, 0)} {unit}"
        + ("" if ready is None else f", Ready {ready.get(p, 0.0):.0f}s of the load")
        for p in pods
    )


def check_replicas_served(
    samples: Sequence[ScalingSample],
    start: float,
    stop: float,
    min_ready_s: float,
    at_least: int = 2,
) -> str | None:
    """None if every pod Ready for >= ``min_ready_s`` of [``start``, ``stop``] completed at
    least one request (or output token, in the series' unit), and at least ``at_least`` pods
    were (an added replica was there to judge); else why, naming each pod's served work and
    Ready seconds."""
    ready = ready_seconds(samples, start, stop)
    served = served_per_pod(samples)
    unit = served_unit(samples)
    judged = sorted(p for p, secs in ready.items() if secs >= min_ready_s)
    detail = pods_text(ready, served, unit) or "no pod was seen Ready"
    if len(judged) < at_least:
        return (
            f"only {len(judged)} pod(s) were Ready for >= {min_ready_s:.0f}s of the load "
            f"(need {at_least}: no added replica to judge); {detail}"
        )
    idle = [p for p in judged if served.get(p, 0) <= 0]
    if not idle:
        return None
    return (
        f"{len(idle)} of {len(judged)} replicas Ready for >= {min_ready_s:.0f}s of the load "
        f"served no {'request' if unit == REQUESTS else unit} ({', '.join(idle)}); {detail}"
    )
