from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servegate.metrics.stats import Dist, percentile, summarize


def test_percentile_interpolates_linearly_between_closest_ranks() -> None:
    xs = [1.0, 2.0, 3.0, 4.0]
    assert percentile(xs, 0.5) == pytest.approx(2.5)  # h = 1.5
    assert percentile(xs, 0.9) == pytest.approx(3.7)  # h = 2.7 -> 3 + 0.7 * (4 - 3)
    assert percentile(xs, 0.0) == 1.0
    assert percentile(xs, 1.0) == 4.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_summarize_hand_values_and_unsorted_input() -> None:
    d = summarize([10.0, 0.0, 30.0, 20.0, 40.0])
    assert d.count == 5
    assert d.mean == pytest.approx(20.0)
    assert (d.min, d.max) == (0.0, 40.0)
    assert d.p50 == pytest.approx(20.0)
    assert d.p90 == pytest.approx(36.0)  # h = 3.6 -> 30 + 0.6 * 10
    assert d.p99_9 == pytest.approx(39.96)


def test_summarize_empty_has_no_statistics() -> None:
    d = summarize([])
    assert d == Dist()
    assert d.count == 0 and d.p99 is None and d.mean is None


def test_stat_by_name_rejects_unknown() -> None:
    d = summarize([1.0])
    assert d.stat("p99_9") == 1.0
    with pytest.raises(KeyError):
        d.stat("p42")


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_percentile_is_monotone_and_bounded(xs: list[float], q1: float, q2: float) -> None:
    s = sorted(xs)
    lo, hi = sorted((q1, q2))
    a, b = percentile(s, lo), percentile(s, hi)
    assert s[0] <= a <= b <= s[-1] or math.isclose(a, b)
