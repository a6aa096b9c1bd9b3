"""The autoscaling deadlines count from the load's first request, not from its set-up: a load
sent from Locust pods in the cluster starts and calibrates its pods first (about 110 s in
foreign mode), which once failed the CPU HPA check with the HPA reacting 40 s after the
first request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from servegate.checks.autoscaling.hpa import HpaCheck, first_load_seen, load_start_wall
from servegate.errors import UserError
from servegate.harness.load import LoadResult
from servegate.harness.scaling import ScalingSampler
from servegate.metrics.scaling import ScalingSample


def _s(t: float, ready: int, queue: float = 0.0, served: float = 0.0) -> ScalingSample:
    return ScalingSample(
        t=t, wall=1000.0 + t, desired=ready, ready=ready, queue_depth=queue,
        served_by_pod={"p0": served},
    )  # fmt: skip


def test_first_sign_of_load_is_a_queue_or_served_work_after_since() -> None:
    series = [_s(0, 1), _s(2, 1, served=3), _s(4, 1), _s(110, 1, queue=2), _s(112, 1, served=5)]
    assert first_load_seen(series, 0.0) is series[1]
    assert first_load_seen(series, 3.0) is series[3]
    assert first_load_seen([_s(0, 1), _s(2, 1)], 0.0) is None


def _sampler(series: list[ScalingSample]) -> ScalingSampler:
    s = ScalingSampler(lambda: {}, None)
    s._wall0 = 1000.0  # the series' t is wall - 1000
    s.samples.extend(series)
    return s


def _result(tmp_path: Path, start_wall: float) -> LoadResult:
    (tmp_path / "run.json").write_text(json.dumps({"start_ns": int(start_wall * 1e9)}))
    return cast(Any, type("R", (), {"run_dir": str(tmp_path)})())


def test_scale_up_is_judged_again_from_the_recorded_start(tmp_path: Path) -> None:
    # First sign at t=112; the run recorded its first request at t=111; 2 ready at t=150.
    series = [_s(0, 1), _s(112, 1, queue=3), _s(150, 2, queue=1)]
    sampler = _sampler(series)
    res = _result(tmp_path, 1111.0)
    assert load_start_wall(res) == pytest.approx(1111.0)
    start = HpaCheck._judged_from_recorded_start(sampler, res, 112.0, 100.0)
    assert start == pytest.approx(111.0) and sampler.marks["load start"] == pytest.approx(111.0)
    assert sampler.took_to_reach(2, since=start) == pytest.approx(39.0)
    # 2 ready 39 s after the first request: within 30 s is a failure, named from the start.
    with pytest.raises(UserError, match="from the load's recorded start"):
        HpaCheck._judged_from_recorded_start(_sampler(series), res, 112.0, 30.0)


def test_a_recorded_start_after_the_first_sign_keeps_the_first_sign(tmp_path: Path) -> None:
    sampler = _sampler([_s(0, 1), _s(112, 1, queue=3), _s(150, 2)])
    start = HpaCheck._judged_from_recorded_start(sampler, _result(tmp_path, 1115.0), 112.0, 100.0)
    assert start == 112.0 and sampler.marks["load start"] == 112.0
