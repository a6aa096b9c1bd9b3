"""One replica's capacity curve, measured on the simulator's batching engine (fake clock)."""

from __future__ import annotations

import pytest

from servegate.errors import UserError
from servegate.sim.engine import EngineConfig
from servegate.utilisation.capacity import (
    Curve,
    Lengths,
    Point,
    RequestMix,
    measure,
    measure_curve,
    saturation_rps,
)

CFG = EngineConfig(
    max_num_seqs=8,
    kv_cache_tokens=100_000,
    prefill_s_per_token=0.0,
    decode_base_s=0.01,
    decode_per_seq_s=0.0,
)
FIXED = RequestMix(prompt=Lengths(100, 0), output=Lengths(50, 0))


def test_saturation_rate_by_hand() -> None:
    # 8 sequences per 10 ms step, 50 tokens each: 800 tok/s / 50 = 16 req/s.
    assert saturation_rps(CFG, FIXED) == pytest.approx(16.0)


def test_busy_fraction_matches_single_request_service_time() -> None:
    # At a low rate requests rarely overlap: each keeps the GPU busy 50 steps x 10 ms = 0.5 s,
    # so busy ~= rate * 0.5 s (a little less when two overlap).
    p = measure(CFG, FIXED, 0.2, seconds=2000, warmup=10, seed=1)
    assert 0.08 <= p.busy <= 0.1
    assert p.p99_tpot_s == pytest.approx(0.01)
    assert p.occupancy == pytest.approx(p.busy / 8, rel=0.3)


def test_busy_and_occupancy_grow_with_load() -> None:
    pts = [measure(CFG, FIXED, r, seconds=300, warmup=10, seed=2) for r in (1.0, 4.0, 12.0)]
    assert [p.busy for p in pts] == sorted(p.busy for p in pts)
    assert [p.occupancy for p in pts] == sorted(p.occupancy for p in pts)
    assert all(p.occupancy <= p.busy <= 1.0 for p in pts)
    assert pts[-1].p99_ttft_s > pts[0].p99_ttft_s


def test_overload_is_unstable() -> None:
    p = measure(CFG, FIXED, 30.0, seconds=120, warmup=10, seed=3)
    assert not p.stable


def test_curve_interpolates_linearly() -> None:
    a = Point(2.0, 0.4, 0.1, 100.0, 0.1, 0.01, True)
    b = Point(4.0, 0.8, 0.3, 200.0, 0.3, 0.03, True)
    c = Curve(points=(a, b), slo_rps=4.0, max_rps=4.0, max_seqs=8)
    mid = c.at(3.0)
    assert (mid.busy, mid.occupancy, mid.tokens_per_s) == pytest.approx((0.6, 0.2, 150.0))
    assert c.at(1.0).busy == pytest.approx(0.2)  # towards zero load at 0 rps
    assert c.at(0.0).busy == 0.0
    assert c.at(9.0) == b


def test_curve_finds_the_slo_rate_and_refuses_an_impossible_slo() -> None:
    curve = measure_curve(CFG, FIXED, fractions=(0.25, 0.5, 0.75), ttft_limit_s=5, tpot_limit_s=1)
    assert curve.slo_rps == pytest.approx(0.75 * 16.0)
    assert curve.max_seqs == 8
    with pytest.raises(UserError, match="no measured rate"):
        measure_curve(CFG, FIXED, fractions=(0.5,), ttft_limit_s=0.001, tpot_limit_s=1)
