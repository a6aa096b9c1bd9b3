"""Autoscaling time series: one sample per tick, and the checks suites assert on them.

Kept free of any cluster or Prometheus access so the checks (the part that decides pass or
fail) are pure functions of a list of samples and can be tested with made-up series. The
sampler that fills the list lives in fixtures/scaling.py; the plot in servegate.report.scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScalingSample:
    """What the autoscaler and the workload looked like at one instant.

    ``None`` means "could not be read at this tick" (the error is in ``errors``), never 0.
    """

    t: float  # seconds since the sampler started (monotonic)
    wall: float  # unix time of the sample
    desired: int | None = None  # the workload's spec.replicas
    ready: int | None = None  # the workload's status.readyReplicas
    hpa_desired: int | None = None  # the autoscaler's status.desiredReplicas
    metrics: dict[str, float] = field(default_factory=dict)  # autoscaler's current values
    queue_depth: float | None = None  # the server's queue gauge summed over the pods
    queue_by_pod: dict[str, float] = field(default_factory=dict)  # the same, per pod
    p50_ms: float | None = None  # e2e latency of requests completed in the last window
    p99_ms: float | None = None
    ready_pods: tuple[str, ...] | None = None  # the workload's pods Ready (not terminating)
    served_by_pod: dict[str, float] = field(default_factory=dict)  # work done since start
    served_unit: str = "requests"  # what served_by_pod counts (the server's counter)
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"] = list(self.errors)
        d["ready_pods"] = None if self.ready_pods is None else list(self.ready_pods)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ScalingSample:
        pods = d.get("ready_pods")
        return cls(
            **{
                **d,
                "errors": tuple(d.get("errors", ())),
                "ready_pods": None if pods is None else tuple(pods),
            }
        )


REQUESTS = "requests"
"""The unit of ``served_by_pod`` when the server counts completed requests (vLLM's
``vllm:request_success_total``); a server without a request counter reports its served work
in another unit (llama-server: output tokens), named in ``served_unit``."""


def served_unit(samples: Sequence[ScalingSample]) -> str:
    """The unit of the series' per-pod served counts: that of the first sample carrying
    counts (a sampler reads one counter throughout), ``requests`` if none does."""
    return next((s.served_unit for s in samples if s.served_by_pod), REQUESTS)


def replicas_of(s: ScalingSample, which: str) -> int | None:
    """``which``: "ready" (pods serving) or "desired" (what the autoscaler set)."""
    if which not in ("ready", "desired"):
        raise ValueError(f"which must be 'ready' or 'desired', not {which!r}")
    return s.ready if which == "ready" else s.desired


def series_text(samples: Sequence[ScalingSample], which: str = "ready", limit: int = 40) -> str:
    """A compact ``t=replicas`` trail for failure messages: ``0s:1 5s:1 10s:2 ...``.

    Consecutive equal values are collapsed so a long run still fits on one line."""
    parts: list[str] = []
    last: object = object()
    for s in samples:
        v = replicas_of(s, which)
        if v != last:
            parts.append(f"{s.t:.0f}s:{'?' if v is None else v}")
            last = v
    if len(parts) > limit:
        parts = [*parts[: limit // 2], "...", *parts[-limit // 2 :]]
    return " ".join(parts) or "(no samples)"


def first_time(
    samples: Sequence[ScalingSample],
    pred_min: int | None,
    pred_max: int | None,
    since: float,
    which: str,
) -> float | None:
    """The first sample time >= ``since`` whose replicas are >= pred_min / <= pred_max."""
    for s in samples:
        v = replicas_of(s, which)
        if s.t < since or v is None:
            continue
        if pred_min is not None and v < pred_min:
            continue
        if pred_max is not None and v > pred_max:
            continue
        return s.t
    return None


def check_reached(
    samples: Sequence[ScalingSample],
    at_least: int,
    within_s: float,
    since: float = 0.0,
    which: str = "ready",
) -> str | None:
    """None if replicas reached ``at_least`` within ``within_s`` of ``since``, else why."""
    t = first_time(samples, at_least, None, since, which)
    if t is not None and t - since <= within_s:
        return None
    peak = max((v for s in samples if (v := replicas_of(s, which)) is not None), default=None)
    when = "never" if t is None else f"only after {t - since:.0f}s"
    return (
        f"{which} replicas did not reach >= {at_least} within {within_s:.0f}s "
        f"({when}; peak {peak}); series {series_text(samples, which)}"
    )


def check_settled(
    samples: Sequence[ScalingSample],
    minimum: int,
    within_s: float,
    since: float,
    which: str = "ready",
) -> str | None:
    """None if replicas came back to exactly ``minimum`` within ``within_s`` of ``since``,
    else why. Fewer than the minimum is no scale-down: it is an outage (zero ready pods
    would otherwise pass as "at most one")."""
    t = first_time(samples, minimum, minimum, since, which)
    if t is not None and t - since <= within_s:
        return None
    after = [v for s in samples if s.t >= since and (v := replicas_of(s, which)) is not None]
    low = min(after, default=None)
    when = "never" if t is None else f"only after {t - since:.0f}s"
    return (
        f"{which} replicas did not come back to {minimum} within {within_s:.0f}s "
        f"({when}; lowest {low}); series {series_text(samples, which)}"
    )


def peak(samples: Sequence[ScalingSample], attr: str) -> float | None:
    """Largest non-None value of a numeric field over the series."""
    vals = [v for s in samples if isinstance(v := getattr(s, attr), int | float)]
    return max(vals, default=None)


def busiest_pod_share(samples: Sequence[ScalingSample]) -> float | None:
    """Mean share of the waiting requests held by the busiest pod, over the samples where at
    least two pods report a queue and something waits; 1/N means balanced, 1.0 means one pod
    holds it all (e.g. clients keeping their connections to the first replica)."""
    shares = [
        max(s.queue_by_pod.values()) / total
        for s in samples
        if len(s.queue_by_pod) >= 2 and (total := sum(s.queue_by_pod.values())) > 0
    ]
    return sum(shares) / len(shares) if shares else None
