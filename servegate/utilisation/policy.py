"""An HPA-like autoscaler as pure logic, stepped by the caller's (fake) clock.

It follows the Kubernetes HorizontalPodAutoscaler algorithm: desired = ceil(current *
metric / target), no change within a tolerance of the target, stabilisation windows (the
lowest recommendation of the scale-up window and the highest of the scale-down window win),
clamped to [min, max]. New replicas hold a GPU from the moment they are created but serve
only after a model cold start, so the cost of scaling up is visible.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from pydantic import Field, model_validator

from servegate.config.base import StrictModel


class Policy(StrictModel):
    """Knobs of the autoscaler. Defaults follow the HPA's (tolerance, 300 s scale-down window)."""

    min_replicas: int = Field(1, ge=1, description="Lowest replica count.")
    max_replicas: int = Field(10, ge=1, description="Highest replica count (GPU budget).")
    target_fraction: float = Field(
        0.7, gt=0, le=1, description="Target load per replica, as a share of its SLO capacity."
    )
    tolerance: float = Field(0.1, ge=0, lt=1, description="No change within this ratio of 1.")
    sync_s: float = Field(60.0, gt=0, description="How often the autoscaler evaluates.")
    scale_up_window_s: float = Field(0.0, ge=0, description="Scale-up stabilisation window.")
    scale_down_window_s: float = Field(300.0, ge=0, description="Scale-down stabilisation window.")
    cold_start_s: float = Field(180.0, ge=0, description="Pod start + model load before serving.")

    @model_validator(mode="after")
    def _bounds(self) -> Policy:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


@dataclass(slots=True)
class Autoscaler:
    """Replica set with per-replica ready times, driven by :meth:`evaluate` on each sync."""

    policy: Policy
    ready_at: list[float] = field(default_factory=list)  # one entry per replica holding a GPU
    _recs: deque[tuple[float, int]] = field(default_factory=deque)

    @classmethod
    def warm(cls, policy: Policy, replicas: int) -> Autoscaler:
        n = min(policy.max_replicas, max(policy.min_replicas, replicas))
        return cls(policy, [float("-inf")] * n)

    @property
    def replicas(self) -> int:
        return len(self.ready_at)

    def ready(self, now: float) -> int:
        return sum(1 for r in self.ready_at if r <= now)

    def recommend(self, metric: float, target: float) -> int:
        """HPA's raw recommendation for an average ``metric`` per ready replica."""
        ratio = metric / target
        if abs(ratio - 1.0) <= self.policy.tolerance:
            return self.replicas
        return math.ceil(self.replicas * ratio - 1e-9)

    def evaluate(self, now: float, metric: float, target: float) -> int:
        """One sync: apply the stabilised recommendation at ``now``; return the replica count."""
        p = self.policy
        raw = min(p.max_replicas, max(p.min_replicas, self.recommend(metric, target)))
        self._recs.append((now, raw))
        horizon = max(p.scale_up_window_s, p.scale_down_window_s)
        while self._recs and self._recs[0][0] < now - horizon:
            self._recs.popleft()
        up = min(r for t, r in self._recs if t >= now - p.scale_up_window_s)
        down = max(r for t, r in self._recs if t >= now - p.scale_down_window_s)
        cur = self.replicas
        desired = up if up > cur else (down if down < cur else cur)
        if desired > cur:
            self.ready_at.extend([now + p.cold_start_s] * (desired - cur))
        elif desired < cur:
            # Remove replicas still starting first (newest first), as a ReplicaSet prefers.
            self.ready_at.sort()
            del self.ready_at[desired:]
        return self.replicas


__all__ = ["Autoscaler", "Policy"]
