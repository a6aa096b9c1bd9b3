"""Load shapes as pure functions of elapsed time.

``ShapeController.target(t)`` answers "what level now?" (users for a closed loop, requests/s
for an open loop) or ``None`` when the run is over. Time-only shapes (steady, soak, ramp,
stages, spike) depend on ``t`` alone. Sweeps and SLO searches also depend on the verdicts of
earlier steps, which the caller feeds back with :meth:`ShapeController.record_step`; given
the same verdicts they return the same levels, so all of it is testable with a fake clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from servegate.config.profile import (
    Ramp,
    Replay,
    Shape,
    SloSearch,
    Soak,
    Spike,
    Stages,
    Steady,
    Sweep,
)


@dataclass(frozen=True, slots=True)
class Target:
    level: float
    step: int = 0  # stage / sweep step / search probe index, tags the requests sent under it


def time_level(shape: Steady | Soak | Ramp | Stages | Spike | Replay, t: float) -> Target | None:
    """Level of a time-only shape at ``t`` seconds, or None once it has ended.

    A replay's level is 1 while it lasts: its send times come from the trace, not a rate."""
    if t < 0:
        t = 0.0
    if isinstance(shape, Replay):
        return Target(1.0) if t < shape.duration else None
    if isinstance(shape, Steady | Soak):
        return Target(shape.level) if t < shape.duration else None
    if isinstance(shape, Ramp):
        if t < shape.ramp:
            return Target(shape.start + (shape.end - shape.start) * t / shape.ramp, 0)
        return Target(shape.end, 1) if t < shape.ramp + shape.hold else None
    if isinstance(shape, Stages):
        edge = 0.0
        for i, stage in enumerate(shape.stages):
            edge += stage.duration
            if t < edge:
                return Target(stage.level, i)
        return None
    if t >= shape.duration:
        return None
    if shape.at <= t < shape.at + shape.length:
        return Target(shape.peak, 1)
    return Target(shape.base, 0 if t < shape.at else 2)


def sweep_levels(shape: Sweep) -> list[float]:
    n = int((shape.stop - shape.start) / shape.step + 1e-9) + 1
    return [shape.start + i * shape.step for i in range(n)]


def slo_search_next(shape: SloSearch, results: list[tuple[float, bool]]) -> float | None:
    """Next probe level given (level, passed) verdicts so far, or None when the search is done.

    Doubles from ``low`` (capped at ``high``) until a probe fails, then bisects between the
    best pass and the lowest failure until they are within ``tolerance``.
    """
    if len(results) >= shape.max_probes:
        return None
    passes = [lvl for lvl, ok in results if ok]
    fails = [lvl for lvl, ok in results if not ok]
    lo = max(passes, default=0.0)
    if not fails:
        if not results:
            return shape.low
        if lo >= shape.high:
            return None  # even the ceiling passed
        return min(shape.high, lo * 2)
    hi = min(f for f in fails if f > lo) if any(f > lo for f in fails) else None
    if hi is None:  # a failure at or below a pass: noisy server; trust the latest pass
        return None
    if (hi - lo) <= shape.tolerance * hi:
        return None
    return (lo + hi) / 2


def slo_search_best(results: list[tuple[float, bool]]) -> float | None:
    """Highest passing level below the lowest failure above it (None if nothing passed)."""
    passes = [lvl for lvl, ok in results if ok]
    return max(passes) if passes else None


@dataclass
class ShapeController:
    """Answers ``target(t)``; sweeps and searches also take step verdicts as they are decided."""

    shape: Shape
    results: list[tuple[float, bool]] = field(default_factory=list)  # (level, passed) per step
    _levels: list[float] = field(default_factory=list)
    _done: bool = False

    @property
    def adaptive(self) -> bool:
        return isinstance(self.shape, Sweep | SloSearch)

    @property
    def step_duration(self) -> float | None:
        return self.shape.step_duration if isinstance(self.shape, Sweep | SloSearch) else None

    def record_step(self, step: int, passed: bool) -> None:
        """Verdict of step ``step`` (must be the next undecided one)."""
        if step != len(self.results) or step >= len(self._levels):
            raise ValueError(f"verdict for step {step} out of order")
        self.results.append((self._levels[step], passed))

    def pending_step(self, t: float) -> int | None:
        """The step that has ended by ``t`` but has no verdict yet, if any."""
        sd = self.step_duration
        if sd is None:
            return None
        finished = min(int(t // sd), len(self._levels))
        return len(self.results) if len(self.results) < finished else None

    def target(self, t: float) -> Target | None:
        shape = self.shape
        if not isinstance(shape, Sweep | SloSearch):
            return time_level(shape, t)
        if self._done:
            return None
        step = int(max(t, 0.0) // shape.step_duration)
        while len(self._levels) <= step:
            if len(self.results) < len(self._levels):
                # the previous step has no verdict yet: hold its level until it arrives
                return Target(self._levels[-1], len(self._levels) - 1)
            nxt = self._next_level()
            if nxt is None:
                self._done = True
                return None
            self._levels.append(nxt)
        return Target(self._levels[step], step)

    def _next_level(self) -> float | None:
        shape = self.shape
        if isinstance(shape, SloSearch):
            return slo_search_next(shape, self.results)
        assert isinstance(shape, Sweep)
        if shape.stop_on_saturation and any(not ok for _, ok in self.results):
            return None
        levels = sweep_levels(shape)
        i = len(self._levels)
        return levels[i] if i < len(levels) else None

    def step_bounds(self, step: int) -> tuple[float, float]:
        """(start, end) seconds of an adaptive step's evaluated part (after its settle time)."""
        shape = self.shape
        assert isinstance(shape, Sweep | SloSearch)
        start = step * shape.step_duration
        return start + shape.settle, start + shape.step_duration


def closed_loop_users(level: float) -> int:
    return max(0, math.ceil(level - 1e-9))
