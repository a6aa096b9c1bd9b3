"""Shapes are pure functions of elapsed time: drive them with a fake clock."""

from __future__ import annotations

import pytest

from servegate.config.profile import Ramp, SloSearch, Spike, Stages, Steady, Sweep
from servegate.load.shapes import (
    ShapeController,
    closed_loop_users,
    slo_search_best,
    slo_search_next,
    sweep_levels,
    time_level,
)


def _levels(ctrl: ShapeController, times: list[float]) -> list[float | None]:
    out = []
    for t in times:
        tgt = ctrl.target(t)
        out.append(None if tgt is None else tgt.level)
    return out


def test_steady_holds_then_ends() -> None:
    shape = Steady(type="steady", level=5, duration=10)
    assert _levels(ShapeController(shape), [0, 5, 9.99, 10, 50]) == [5, 5, 5, None, None]


def test_ramp_interpolates_linearly_then_holds() -> None:
    shape = Ramp(type="ramp", start=0, end=10, ramp=10, hold=5)
    ctrl = ShapeController(shape)
    assert _levels(ctrl, [0, 2.5, 5, 9.9]) == pytest.approx([0, 2.5, 5, 9.9])
    assert _levels(ctrl, [10, 14.9, 15]) == [10, 10, None]


def test_stages_step_through_with_indices() -> None:
    shape = Stages.model_validate(
        {"type": "stages", "stages": [{"duration": 2, "level": 1}, {"duration": 3, "level": 7}]}
    )
    got = [time_level(shape, t) for t in (0, 1.99, 2, 4.99, 5)]
    assert [(g.level, g.step) if g else None for g in got] == [(1, 0), (1, 0), (7, 1), (7, 1), None]


def test_spike_rises_and_falls_back() -> None:
    shape = Spike(type="spike", base=2, peak=9, at=10, length=5, duration=20)
    got = [time_level(shape, t) for t in (0, 9.9, 10, 14.9, 15, 19.9, 20)]
    assert [(g.level, g.step) if g else None for g in got] == [
        (2, 0),
        (2, 0),
        (9, 1),
        (9, 1),
        (2, 2),
        (2, 2),
        None,
    ]


def test_spike_must_fit_in_duration() -> None:
    with pytest.raises(ValueError, match="within duration"):
        Spike(type="spike", base=1, peak=2, at=15, length=10, duration=20)


def test_sweep_waits_for_verdicts_and_stops_at_saturation() -> None:
    shape = Sweep(type="sweep", start=2, stop=10, step=2, step_duration=10)
    assert sweep_levels(shape) == [2, 4, 6, 8, 10]
    ctrl = ShapeController(shape)
    assert ctrl.target(0).level == 2  # type: ignore[union-attr]
    assert ctrl.pending_step(9.9) is None
    assert ctrl.pending_step(10) == 0
    held = ctrl.target(10.5)  # no verdict yet: hold the previous level
    assert held is not None and (held.level, held.step) == (2, 0)
    ctrl.record_step(0, True)
    nxt = ctrl.target(10.5)
    assert nxt is not None and (nxt.level, nxt.step) == (4, 1)
    ctrl.record_step(1, False)  # saturated at 4
    assert ctrl.target(20.1) is None


def test_sweep_without_saturation_runs_every_step() -> None:
    shape = Sweep(type="sweep", start=1, stop=3, step=1, step_duration=1)
    ctrl = ShapeController(shape)
    seen = []
    for k in range(4):
        tgt = ctrl.target(k + 0.5)
        if tgt is None:
            break
        seen.append(tgt.level)
        ctrl.record_step(k, True)
    assert seen == [1, 2, 3]


def test_verdicts_must_come_in_order() -> None:
    ctrl = ShapeController(Sweep(type="sweep", start=1, stop=3, step=1, step_duration=1))
    ctrl.target(0)
    with pytest.raises(ValueError, match="out of order"):
        ctrl.record_step(1, True)


def _search(shape: SloSearch, capacity: float) -> list[tuple[float, bool]]:
    results: list[tuple[float, bool]] = []
    while (lvl := slo_search_next(shape, results)) is not None:
        results.append((lvl, lvl <= capacity))
    return results


@pytest.mark.parametrize("capacity", [3.3, 17.0, 50.0, 99.0])
def test_slo_search_converges_below_capacity(capacity: float) -> None:
    shape = SloSearch(
        type="slo-search",
        low=1,
        high=128,
        step_duration=10,
        tolerance=0.05,
        max_probes=20,
        criteria={"ttft_p99_ms": 100},
    )
    results = _search(shape, capacity)
    best = slo_search_best(results)
    assert best is not None
    assert best <= capacity
    assert best >= capacity * (1 - 2 * shape.tolerance)
    assert len(results) <= shape.max_probes


def test_slo_search_stops_when_the_ceiling_passes() -> None:
    shape = SloSearch(
        type="slo-search", low=4, high=16, step_duration=1, criteria={"ttft_p99_ms": 1}
    )
    results = _search(shape, 1000)
    assert [lvl for lvl, _ in results] == [4, 8, 16]
    assert slo_search_best(results) == 16


def test_slo_search_respects_max_probes() -> None:
    shape = SloSearch(
        type="slo-search",
        low=1,
        high=1e6,
        step_duration=1,
        max_probes=3,
        criteria={"ttft_p99_ms": 1},
    )
    assert len(_search(shape, 1e9)) == 3


def test_slo_search_through_the_controller_uses_fed_back_verdicts() -> None:
    shape = SloSearch(
        type="slo-search", low=2, high=64, step_duration=10, criteria={"ttft_p99_ms": 1}
    )
    ctrl = ShapeController(shape)
    t = 0.0
    levels = []
    while (tgt := ctrl.target(t)) is not None:
        levels.append(tgt.level)
        ctrl.record_step(tgt.step, tgt.level <= 10)
        t += 10
    assert levels[:4] == [2, 4, 8, 16]
    assert slo_search_best(ctrl.results) is not None
    assert 9 <= slo_search_best(ctrl.results) <= 10  # type: ignore[operator]


def test_closed_loop_users_rounds_up_fractions() -> None:
    assert [closed_loop_users(x) for x in (0, 0.2, 1, 1.5, 7)] == [0, 1, 1, 2, 7]
