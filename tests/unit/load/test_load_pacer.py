"""The open-loop schedule depends on the rate alone, never on responses."""

from __future__ import annotations

import itertools
import statistics

import pytest

from servegate.load.pacer import ArrivalSchedule, schedule_times


def test_constant_rate_is_evenly_spaced() -> None:
    rate, duration = 20.0, 5.0
    times = schedule_times("constant", lambda t: rate, duration, seed=1)
    assert len(times) == pytest.approx(rate * duration, abs=1)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) == pytest.approx(1 / rate)
    assert min(gaps) == pytest.approx(1 / rate)


def test_poisson_gaps_have_the_right_mean_and_spread() -> None:
    rate = 50.0
    times = schedule_times("poisson", lambda t: rate, 100.0, seed=3)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # exponential gaps: mean = stdev = 1/rate (5000 samples: within a few percent)
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(1 / rate, rel=0.08)


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    a = schedule_times("poisson", lambda t: 10.0, 10.0, seed=7)
    b = schedule_times("poisson", lambda t: 10.0, 10.0, seed=7)
    c = schedule_times("poisson", lambda t: 10.0, 10.0, seed=8)
    assert a == b
    assert a != c


def test_constant_workers_interleave_into_an_even_stream() -> None:
    rate, n = 12.0, 3
    merged = sorted(
        t
        for i in range(n)
        for t in schedule_times(
            "constant", lambda t: rate, 2.0, seed=0, worker_index=i, worker_count=n
        )
    )
    gaps = [b - a for a, b in itertools.pairwise(merged)]
    assert min(gaps) == pytest.approx(1 / rate)
    assert max(gaps) == pytest.approx(1 / rate)


def test_poisson_workers_are_independent_streams() -> None:
    one = schedule_times("poisson", lambda t: 10.0, 5.0, seed=1, worker_index=0, worker_count=2)
    two = schedule_times("poisson", lambda t: 10.0, 5.0, seed=1, worker_index=1, worker_count=2)
    assert one != two


def test_rate_follows_the_shape() -> None:
    times = schedule_times("constant", lambda t: 5.0 if t < 5 else 20.0, 10.0, seed=0)
    first = sum(1 for t in times if t < 5)
    second = len(times) - first
    assert second == pytest.approx(4 * first, rel=0.1)


def test_zero_rate_schedules_nothing_then_resumes() -> None:
    sched = ArrivalSchedule("constant", seed=0)
    assert sched.next_time(0.0, 0.0) is None
    t = sched.next_time(1.0, 10.0)
    assert t == pytest.approx(1.0)
    sched.advance(10.0)
    assert sched.next_time(1.0, 10.0) == pytest.approx(1.1)


def test_schedule_does_not_depend_on_when_the_pacer_looks() -> None:
    """A late pacer (now past the due time) gets the same due time: lateness is measured."""
    sched = ArrivalSchedule("constant", seed=0)
    first = sched.next_time(0.0, 4.0)
    sched.advance(4.0)
    late = sched.next_time(10.0, 4.0)  # the pacer woke up very late
    assert first == 0.0
    assert late == pytest.approx(0.25)
