"""The diurnal demand trace: shape, determinism, seed."""

from __future__ import annotations

import itertools

import pytest

from servegate.utilisation.trace import MINUTES, TraceShape, demand


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _hours(trace: list[float], a: int, b: int) -> list[float]:
    return trace[a * 60 : b * 60]


def test_noiseless_trace_spans_trough_to_peak() -> None:
    tr = demand(TraceShape(peak_rps=100.0, trough_fraction=0.2, noise=0.0))
    assert len(tr) == MINUTES
    assert max(tr) == pytest.approx(100.0)
    assert min(tr) == pytest.approx(20.0)


def test_night_trough_morning_ramp_afternoon_peak() -> None:
    tr = demand(TraceShape(noise=0.0))
    assert 1 <= tr.index(min(tr)) // 60 <= 6
    assert 13 <= tr.index(max(tr)) // 60 <= 17
    night, morning, afternoon = _hours(tr, 2, 6), _hours(tr, 9, 11), _hours(tr, 14, 16)
    assert _mean(night) < _mean(morning) < _mean(afternoon)
    ramp = _hours(tr, 6, 9)
    assert all(b >= a for a, b in itertools.pairwise(ramp))


def test_seed_is_deterministic_and_matters() -> None:
    a, b = demand(TraceShape(seed=3)), demand(TraceShape(seed=3))
    c = demand(TraceShape(seed=4))
    assert a == b
    assert a != c
    assert all(x > 0 for x in a)
