"""Statistics of repeats and the significance test compare uses, against hand computations."""

from __future__ import annotations

import math

import pytest

from servegate.metrics.repeats import (
    coefficient_of_variation,
    figure_stats,
    mean_ci,
    worse_p_value,
)


def test_cv_is_sample_stdev_over_mean() -> None:
    # [1, 2, 3]: mean 2, sample variance ((1 + 0 + 1) / 2) = 1 -> stdev 1 -> CV 0.5
    assert coefficient_of_variation([1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert coefficient_of_variation([5.0]) is None
    assert coefficient_of_variation([0.0, 0.0]) is None


def test_bootstrap_ci_of_no_spread_is_the_value() -> None:
    assert mean_ci([7.0, 7.0, 7.0]) == (7.0, 7.0)
    assert mean_ci([7.0]) is None


def test_bootstrap_ci_brackets_the_mean_inside_the_range_and_is_reproducible() -> None:
    xs = [10.0, 12.0, 11.0, 30.0, 9.0]
    lo, hi = mean_ci(xs) or (math.nan, math.nan)
    # a resample's mean lies between the smallest and largest value, and the interval of the
    # mean of five values with one outlier is wide but holds the sample mean (14.4)
    assert min(xs) <= lo < 14.4 < hi <= max(xs)
    assert mean_ci(xs) == (lo, hi)  # fixed seed: same values, same interval


def test_figure_stats_skips_missing_repeats() -> None:
    st = figure_stats([1.0, None, 3.0])
    assert (st.n, st.mean, st.values) == (2, 2.0, [1.0, None, 3.0])
    assert st.cv == pytest.approx(math.sqrt(2) / 2)


def test_mann_whitney_complete_separation_of_three_against_three() -> None:
    # Exact one-sided test: of the C(6, 3) = 20 equally likely rankings under the null, only
    # one puts all three new values above all three base values: p = 1/20.
    p = worse_p_value([100.0, 101.0, 99.0], [120.0, 121.0, 119.0], "ttft.p99")
    assert p == pytest.approx(1 / 20)
    # the other direction is not a regression of a latency: p = 1
    assert worse_p_value([120.0, 121.0, 119.0], [100.0, 101.0, 99.0], "ttft.p99") == 1.0


def test_mann_whitney_direction_of_throughput_is_down() -> None:
    assert worse_p_value([10.0, 11.0, 12.0], [7.0, 8.0, 9.0], "throughput.requests_per_s") == (
        pytest.approx(1 / 20)
    )


def test_mann_whitney_interleaved_values_are_not_significant() -> None:
    # ranks of new among the six: 2, 4, 6 -> rank sum 12. Of the 20 three-subsets of ranks
    # 1..6, those with a sum >= 12: 3 (sum 12) + 2 (13) + 1 (14) + 1 (15) = 7 -> p = 7/20
    p = worse_p_value([1.0, 3.0, 5.0], [2.0, 4.0, 6.0], "ttft.p99")
    assert p == pytest.approx(7 / 20)


def test_mann_whitney_needs_two_values_a_side_and_equal_values_are_no_change() -> None:
    assert worse_p_value([1.0], [2.0, 3.0], "ttft.p99") is None
    assert worse_p_value([0.0, 0.0], [0.0, 0.0], "error_rate") == 1.0
