"""The HPA-like autoscaler on a fake clock."""

from __future__ import annotations

import pytest

from servegate.config.base import load_yaml_text
from servegate.errors import ConfigError
from servegate.utilisation.policy import Autoscaler, Policy


def test_scale_up_follows_the_hpa_formula_and_waits_for_cold_start() -> None:
    hpa = Autoscaler.warm(Policy(max_replicas=20, cold_start_s=180), 3)
    assert hpa.evaluate(0.0, metric=20.0, target=10.0) == 6  # ceil(3 * 20/10)
    assert hpa.ready(0.0) == 3
    assert hpa.ready(179.0) == 3
    assert hpa.ready(180.0) == 6


def test_within_tolerance_nothing_changes() -> None:
    hpa = Autoscaler.warm(Policy(tolerance=0.1), 4)
    assert hpa.evaluate(0.0, metric=10.9, target=10.0) == 4
    assert hpa.evaluate(60.0, metric=9.1, target=10.0) == 4


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    hpa = Autoscaler.warm(Policy(scale_down_window_s=300), 4)
    hpa.evaluate(0.0, metric=10.0, target=10.0)
    counts = [hpa.evaluate(t, metric=5.0, target=10.0) for t in (60.0, 120.0, 300.0, 360.0)]
    assert counts == [4, 4, 4, 2]


def test_clamped_to_min_and_max() -> None:
    hpa = Autoscaler.warm(Policy(min_replicas=2, max_replicas=5, scale_down_window_s=0), 3)
    assert hpa.evaluate(0.0, metric=100.0, target=1.0) == 5
    assert hpa.evaluate(60.0, metric=0.0, target=1.0) == 2
    assert Autoscaler.warm(Policy(min_replicas=2, max_replicas=5), 9).replicas == 5


def test_scale_down_removes_starting_replicas_first() -> None:
    hpa = Autoscaler.warm(Policy(scale_down_window_s=0, cold_start_s=180), 2)
    hpa.evaluate(0.0, metric=20.0, target=10.0)  # 2 -> 4, two starting
    hpa.evaluate(60.0, metric=7.5, target=10.0)  # ceil(4 * 0.75) = 3
    assert hpa.replicas == 3
    assert hpa.ready(60.0) == 2  # both warm replicas kept


def test_policy_typo_is_a_located_error() -> None:
    with pytest.raises(ConfigError, match=r"policy.yaml:2: cold_start: unknown field"):
        load_yaml_text("min_replicas: 1\ncold_start: 10\n", Policy, source="policy.yaml")


def test_min_above_max_is_rejected() -> None:
    with pytest.raises(ConfigError, match="min_replicas must not exceed max_replicas"):
        load_yaml_text("min_replicas: 5\nmax_replicas: 2\n", Policy, source="policy.yaml")
