from __future__ import annotations

import math
import random

import pytest

from servegate.metrics import sketch as sk
from servegate.metrics.stats import QUANTILES, summarize

ALPHA = sk.DEFAULT_RELATIVE_ACCURACY


def _samples(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(4.5, 0.9) for _ in range(n)]


def _within_alpha_of_rank(xs_sorted: list[float], q: float, est: float) -> bool:
    """DDSketch's guarantee: within alpha of the sample at rank q (n - 1), floor or ceil."""
    h = q * (len(xs_sorted) - 1)
    candidates = {xs_sorted[math.floor(h)], xs_sorted[math.ceil(h)]}
    return any(abs(est - x) <= ALPHA * x * (1 + 1e-9) for x in candidates)


def test_merged_sketch_percentiles_have_bounded_relative_error() -> None:
    parts = [_samples(seed, 2500) for seed in range(4)]  # four "workers"
    merged = sk.merge(sk.sketch_of(p) for p in parts)
    pooled = sorted(x for p in parts for x in p)
    assert merged.count == len(pooled)
    for q in QUANTILES.values():
        est = merged.get_quantile_value(q)
        assert est is not None
        assert _within_alpha_of_rank(pooled, q, est), q
    exact = summarize(pooled)
    d = sk.dist_of(merged)
    assert d.count == exact.count
    assert d.max == exact.max and d.min == exact.min
    assert d.mean == pytest.approx(exact.mean)


def test_merge_equals_sketch_of_pooled_samples() -> None:
    a, b = _samples(1, 300), _samples(2, 700)
    merged = sk.to_json(sk.merge([sk.sketch_of(a), sk.sketch_of(b)]))
    pooled = sk.to_json(sk.sketch_of(a + b))
    assert merged["positive"] == pooled["positive"]
    assert merged["count"] == pooled["count"]


def test_bytes_round_trip_preserves_quantiles() -> None:
    s = sk.sketch_of([*_samples(3, 1000), 0.0, -2.5])
    back = sk.from_bytes(sk.to_bytes(s))
    assert back.count == s.count
    for q in (0.0, 0.01, 0.5, 0.99, 1.0):
        assert back.get_quantile_value(q) == s.get_quantile_value(q)
    assert sk.dist_of(back) == sk.dist_of(s)


def test_empty_sketch_round_trip() -> None:
    back = sk.from_bytes(sk.to_bytes(sk.new_sketch()))
    assert back.count == 0
    assert sk.dist_of(back).p50 is None


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[1, 2]", b'{"format": "other"}', b'{"format": "servegate-ddsketch/1"}'],
)
def test_malformed_sketch_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        sk.from_bytes(data)


def test_inconsistent_count_is_rejected() -> None:
    doc = sk.to_json(sk.sketch_of([1.0, 2.0]))
    doc["count"] = 5
    with pytest.raises(ValueError, match="add up"):
        sk.from_json(doc)
