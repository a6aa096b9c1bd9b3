"""Fault plans are a function of (seed, request number) only."""

from __future__ import annotations

from collections import Counter

import pytest

from servegate.sim.faults import FaultKind, plan_fault
from servegate.sim.settings import SimSettings


def settings(**kw: object) -> SimSettings:
    return SimSettings.model_validate(kw)


def test_no_faults_by_default() -> None:
    s = settings()
    assert all(plan_fault(s, i, 10) is None for i in range(100))


def test_same_seed_same_faults_different_seed_different() -> None:
    kw = dict(fault_stall_rate=0.2, fault_truncate_rate=0.2, fault_malformed_rate=0.1)
    a = [plan_fault(settings(seed=7, **kw), i, 50) for i in range(200)]
    b = [plan_fault(settings(seed=7, **kw), i, 50) for i in range(200)]
    c = [plan_fault(settings(seed=8, **kw), i, 50) for i in range(200)]
    assert a == b
    assert a != c


def test_rates_are_respected_roughly() -> None:
    s = settings(seed=1, fault_http_5xx_rate=0.1, fault_slow_headers_rate=0.3)
    n = 5000
    kinds = Counter(p.kind if p else None for p in (plan_fault(s, i, 10) for i in range(n)))
    assert kinds[FaultKind.HTTP_5XX] / n == pytest.approx(0.1, abs=0.02)
    assert kinds[FaultKind.SLOW_HEADERS] / n == pytest.approx(0.3, abs=0.03)
    assert kinds[FaultKind.STALL] == 0


def test_fault_position_within_the_output() -> None:
    s = settings(seed=3, fault_truncate_rate=1.0)
    plans = [plan_fault(s, i, 7) for i in range(300)]
    ats = {p.at_token for p in plans if p is not None}
    assert ats == set(range(7))


def test_parameters_carried() -> None:
    s = settings(fault_stall_rate=1.0, fault_stall_s=1.5)
    p = plan_fault(s, 0, 10)
    assert p is not None and p.kind is FaultKind.STALL and p.duration == 1.5


def test_rates_above_one_in_total_are_refused() -> None:
    with pytest.raises(ValueError, match="fault rates add up"):
        settings(fault_stall_rate=0.6, fault_truncate_rate=0.6)
