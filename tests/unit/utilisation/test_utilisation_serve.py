"""Day accounting for static and autoscaled allocation, on a hand-made curve."""

from __future__ import annotations

import pytest

from servegate.utilisation.capacity import Curve, Lengths, Point, RequestMix
from servegate.utilisation.policy import Policy
from servegate.utilisation.serve import run_autoscaled, run_static
from servegate.utilisation.trace import MINUTES

MIX = RequestMix(output=Lengths(100, 0))
CURVE = Curve(
    points=(
        Point(5.0, 0.5, 0.1, 500.0, 0.1, 0.02, True),
        Point(10.0, 1.0, 0.4, 1000.0, 0.5, 0.05, True),
        Point(12.0, 1.0, 0.9, 1200.0, 5.0, 0.09, True),
    ),
    slo_rps=10.0,
    max_rps=12.0,
    max_seqs=64,
)


def test_static_flat_day_by_hand() -> None:
    t = run_static([20.0] * MINUTES, CURVE, MIX, replicas=4)  # 5 req/s per replica
    f = t.figures(CURVE.slo_rps)
    assert f["gpu_hours"] == pytest.approx(96.0)
    assert f["gpu_util_busy"] == pytest.approx(0.5)
    assert f["idle_fraction"] == pytest.approx(0.5)
    assert f["batch_occupancy"] == pytest.approx(0.1)
    assert f["capacity_util"] == pytest.approx(0.5)
    assert f["output_tokens"] == pytest.approx(20.0 * 86400 * 100)
    assert f["slo_violation_minutes"] == 0


def test_overload_builds_a_backlog_and_counts_violations() -> None:
    trace = [10.0] * 10 + [30.0] * 10 + [1.0] * 40  # two replicas drain at most 24 req/s
    t = run_static(trace, CURVE, MIX, replicas=2)
    assert t.max_backlog == pytest.approx(6.0 * 60 * 10)
    assert t.slo_violation_minutes >= 10
    assert t.served == pytest.approx(t.requests)  # the backlog drained by the end
    assert t.worst_p99_ttft_s > 5.0


def test_autoscaler_follows_a_step_and_pays_for_cold_start() -> None:
    trace = [7.0] * 60 + [70.0] * 60 + [7.0] * 60
    pol = Policy(min_replicas=1, max_replicas=10, target_fraction=0.7, cold_start_s=120)
    t = run_autoscaled(trace, CURVE, MIX, pol)
    assert t.replicas[0] == 1
    assert t.peak_replicas == 10
    assert t.replicas[-1] < t.peak_replicas  # scaled back down after the window
    assert 1 <= t.slo_violation_minutes <= 10  # the cold start, not the whole hour
    static = run_static(trace, CURVE, MIX, replicas=7)
    assert t.allocated_gpu_s < static.allocated_gpu_s
