"""The sampler with a scripted probe and a fake clock: series, JSONL, waits and failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servegate.errors import UserError
from servegate.harness.scaling import ScalingSampler, hpa_metrics


class FakeClock:
    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def scripted(values: list[int]) -> Callable[[], dict[str, Any]]:
    it: Iterator[int] = iter(values)
    last = values[-1]

    def probe() -> dict[str, Any]:
        v = next(it, last)
        return {"ready": v, "desired": v}

    return probe


def test_samples_go_to_the_list_and_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    sampler = ScalingSampler(scripted([1, 2, 3]), out, interval_s=5.0, clock=FakeClock(1.0))
    for _ in range(3):
        sampler.sample_once()
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    assert [s.ready for s in sampler.samples] == [1, 2, 3]
    assert [d["ready"] for d in lines] == [1, 2, 3]


def test_a_failing_probe_is_recorded_not_raised() -> None:
    def probe() -> dict[str, Any]:
        raise RuntimeError("boom")

    s = ScalingSampler(probe, None, clock=FakeClock(1.0)).sample_once()
    assert s.ready is None and "boom" in s.errors[0]


def test_wait_reached_returns_the_delay() -> None:
    sampler = ScalingSampler(scripted([1, 1, 2, 3]), None, interval_s=0.001, clock=FakeClock(1.0))
    for _ in range(4):
        sampler.sample_once()
    took = sampler.wait_reached(at_least=3, within_s=10, since=0.0)
    assert took == sampler.samples[3].t


def test_wait_reached_fails_with_the_series() -> None:
    sampler = ScalingSampler(scripted([1]), None, interval_s=0.001, clock=FakeClock(1.0))
    sampler.sample_once()
    with pytest.raises(UserError, match=r"did not reach >= 2 within 3s.*series"):
        sampler.wait_reached(at_least=2, within_s=3)


def test_wait_settled_fails_when_replicas_stay_up() -> None:
    sampler = ScalingSampler(scripted([3]), None, interval_s=0.001, clock=FakeClock(1.0))
    sampler.sample_once()
    with pytest.raises(UserError, match=r"come back to 1 .*lowest 3"):
        sampler.wait_settled(minimum=1, within_s=2)


def test_thread_samples_until_exit(tmp_path: Path) -> None:
    with ScalingSampler(scripted([1, 2]), tmp_path / "x.jsonl", interval_s=0.01) as s:
        s.wait_reached(at_least=2, within_s=30)
        s.mark("done")
    assert len(s.samples) >= 3  # first, at least one tick, last
    assert "done" in s.marks
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == len(s.samples)


def test_hpa_metrics_parse_resource_pods_and_external() -> None:
    status = {
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": 41}},
            },
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "vllm_num_requests_waiting"},
                    "current": {"averageValue": "2500m"},
                },
            },
            {"type": "External", "external": {"metric": {"name": "q"}, "current": {"value": "7"}}},
            {"type": "Resource", "resource": {"name": "memory", "current": {}}},
        ]
    }
    assert hpa_metrics(status) == {"cpu %": 41.0, "vllm_num_requests_waiting": 2.5, "q": 7.0}
    assert hpa_metrics(None) == {}


def test_mark_at_a_wall_time_lands_on_the_series_axis() -> None:
    import time

    sampler = ScalingSampler(scripted([1]), None)
    t_now = sampler.mark("now")
    t_later = sampler.mark("later", wall=time.time() + 30.0)
    assert 29.0 < t_later - t_now <= 30.5
