"""The scale-up / scale-down checks decide pass or fail: exercised on hand-made series."""

from __future__ import annotations

import pytest

from servegate.metrics.scaling import (
    ScalingSample,
    busiest_pod_share,
    check_reached,
    check_settled,
    peak,
    series_text,
)


def series(*ready: int | None, step: float = 5.0) -> list[ScalingSample]:
    return [
        ScalingSample(t=i * step, wall=1000.0 + i * step, desired=r, ready=r)
        for i, r in enumerate(ready)
    ]


def test_reached_in_time_passes() -> None:
    assert check_reached(series(1, 1, 2, 3), at_least=3, within_s=15) is None


def test_reached_too_late_names_the_delay_and_the_series() -> None:
    msg = check_reached(series(1, 1, 1, 1, 2), at_least=2, within_s=10)
    assert msg is not None
    assert "only after 20s" in msg
    assert "0s:1 20s:2" in msg
    assert "\n" not in msg


def test_never_reached_reports_the_peak() -> None:
    msg = check_reached(series(1, 2, 2), at_least=4, within_s=60)
    assert msg is not None
    assert "never" in msg and "peak 2" in msg


def test_reached_counts_from_since() -> None:
    s = series(1, 3, 1, 1, 1, 3)  # an early blip at 5s, the real scale-up at 25s
    assert check_reached(s, at_least=3, within_s=6, since=20) is None
    msg = check_reached(s, at_least=3, within_s=4, since=20)
    assert msg is not None and "only after 5s" in msg


def test_unknown_samples_do_not_count() -> None:
    assert check_reached(series(None, None, 2), at_least=1, within_s=5) is not None
    assert "0s:? 10s:2" in series_text(series(None, None, 2))


def test_settled_after_load_stop() -> None:
    s = series(3, 3, 3, 2, 1)
    assert check_settled(s, minimum=1, within_s=15, since=5) is None
    msg = check_settled(s, minimum=1, within_s=10, since=5)
    assert msg is not None and "only after 15s" in msg and "lowest 1" in msg


def test_settled_never_reports_lowest_after_since() -> None:
    msg = check_settled(series(1, 3, 3, 2), minimum=1, within_s=100, since=5)
    assert msg is not None and "never" in msg and "lowest 2" in msg


def test_falling_below_the_minimum_is_no_scale_down() -> None:
    """Zero ready replicas after the load is an outage, not "at most one"."""
    msg = check_settled(series(3, 3, 0, 0), minimum=1, within_s=100, since=5)
    assert msg is not None and "did not come back to 1" in msg and "lowest 0" in msg
    assert check_settled(series(3, 3, 0, 1), minimum=1, within_s=100, since=5) is None


def test_desired_replicas_are_checked_when_asked() -> None:
    s = [ScalingSample(t=0, wall=0, desired=3, ready=1)]
    assert check_reached(s, 3, 1, which="desired") is None
    assert check_reached(s, 3, 1, which="ready") is not None
    with pytest.raises(ValueError, match="which"):
        check_reached(s, 3, 1, which="pods")


def test_series_text_collapses_repeats_and_long_trails() -> None:
    assert series_text(series(1, 1, 1, 2, 2, 1)) == "0s:1 15s:2 25s:1"
    long = series_text(series(*([1, 2] * 50)), limit=10)
    assert long.count(" ") == 10 and "..." in long
    assert series_text([]) == "(no samples)"


def test_peak_ignores_missing_values() -> None:
    s = [ScalingSample(t=0, wall=0, queue_depth=None), ScalingSample(t=1, wall=1, queue_depth=7)]
    assert peak(s, "queue_depth") == 7
    assert peak(s, "p99_ms") is None


def test_json_round_trip() -> None:
    s = ScalingSample(t=1.5, wall=2.0, ready=2, metrics={"cpu %": 40.0}, errors=("x",))
    assert ScalingSample.from_json(s.to_json()) == s


def test_busiest_pod_share_needs_two_pods_and_a_queue() -> None:
    def at(q: dict[str, float]) -> ScalingSample:
        return ScalingSample(t=0, wall=0, queue_by_pod=q)

    assert busiest_pod_share([at({"a": 5.0}), at({"a": 0.0, "b": 0.0})]) is None
    assert busiest_pod_share([at({"a": 10.0, "b": 0.0})]) == 1.0
    assert busiest_pod_share([at({"a": 3.0, "b": 3.0, "c": 3.0})]) == pytest.approx(1 / 3)
