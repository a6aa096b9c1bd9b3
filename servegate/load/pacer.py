"""Open-loop arrival schedule, independent of gevent so it can be tested with a fake clock.

A true open loop sends on schedule whatever the server does: the schedule is computed from
the target rate alone, never from when earlier requests finished. The worker's pacer greenlet
sleeps until each scheduled time, then hands the request to a pool; if the pool is full the
arrival is counted as dropped (not delayed), so overload shows up instead of hiding.

With N workers each runs rate/N. Poisson streams superpose to a Poisson stream of the total
rate; constant streams are phase-shifted by worker index so the merged stream stays even.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

# When the target rate is zero the schedule re-checks after this long.
IDLE_POLL_S = 0.05


@dataclass
class ArrivalSchedule:
    """Yields scheduled send times (seconds since the pacer started)."""

    arrival: Literal["constant", "poisson"]
    seed: int
    worker_index: int = 0
    worker_count: int = 1
    _rng: random.Random = field(init=False)
    _next: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # One independent stream per worker, reproducible from the profile seed.
        self._rng = random.Random(self.seed * 1_000_003 + self.worker_index)

    def next_time(self, now: float, total_rate: float) -> float | None:
        """The next scheduled time at or after the previous one, for the rate in force at ``now``.

        Returns None when ``total_rate`` is zero (nothing is due; poll again later).
        """
        per_worker = total_rate / self.worker_count
        if per_worker <= 0:
            self._next = None
            return None
        if self._next is None:
            # first arrival (or first after an idle period): phase by worker index
            if self.arrival == "constant":
                gap0 = (self.worker_index / self.worker_count) / per_worker
            else:
                gap0 = self._rng.expovariate(per_worker)
            self._next = now + gap0
            return self._next
        return self._next

    def advance(self, total_rate: float) -> None:
        """Consume the current scheduled time and compute the one after it."""
        if self._next is None:
            return
        per_worker = total_rate / self.worker_count
        if per_worker <= 0:
            self._next = None
            return
        gap = 1.0 / per_worker if self.arrival == "constant" else self._rng.expovariate(per_worker)
        self._next += gap


@dataclass
class TraceSchedule:
    """Send times taken from a trace (seconds since the pacer started), whatever the rate.

    Same interface as :class:`ArrivalSchedule`; the rate only says whether the run is on
    (a replay's level is 1 while it lasts). None once the trace is used up.
    """

    times: list[float]
    _i: int = field(init=False, default=0)
    _origin: float | None = field(init=False, default=None)

    def next_time(self, now: float, total_rate: float) -> float | None:
        """The trace's next time, counted from the first moment the run was on."""
        if total_rate <= 0 or self._i >= len(self.times):
            return None
        if self._origin is None:
            self._origin = now
        return self._origin + self.times[self._i]

    def advance(self, total_rate: float) -> None:
        self._i += 1

    @property
    def done(self) -> bool:
        return self._i >= len(self.times)


def schedule_times(
    arrival: Literal["constant", "poisson"],
    rate_at: Callable[[float], float],
    duration: float,
    seed: int,
    worker_index: int = 0,
    worker_count: int = 1,
) -> list[float]:
    """Every scheduled time in [0, duration) for a rate function ``rate_at(t) -> float``.

    Used by tests and calibration to check the schedule without running a pacer.
    """
    sched = ArrivalSchedule(arrival, seed, worker_index, worker_count)
    out: list[float] = []
    now = 0.0
    while now < duration:
        rate = float(rate_at(now))
        t = sched.next_time(now, rate)
        if t is None:
            now += IDLE_POLL_S
            continue
        if t >= duration:
            break
        out.append(t)
        now = t
        sched.advance(float(rate_at(t)))
    return out
