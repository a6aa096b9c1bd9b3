"""Latency distributions for the plain latency model."""

from __future__ import annotations

import random
import statistics

import pytest

from servegate.sim.dist import Dist


def test_constant_and_zero_stdev() -> None:
    rng = random.Random(0)
    assert Dist("constant", 0.2, 5.0, 0.0, 1.0).draw(rng) == 0.2
    assert Dist("normal", 0.3, 0.0, 0.0, 1.0).draw(rng) == 0.3


def test_normal_clipped() -> None:
    rng = random.Random(1)
    d = Dist("normal", 0.0, 1.0, 0.0, 0.5)
    xs = [d.draw(rng) for _ in range(2000)]
    assert min(xs) == 0.0 and max(xs) == 0.5


@pytest.mark.parametrize("kind", ["normal", "lognormal"])
def test_mean_and_stdev_match(kind: str) -> None:
    rng = random.Random(2)
    d = Dist(kind, 0.1, 0.03, 0.0, 10.0)  # type: ignore[arg-type]
    xs = [d.draw(rng) for _ in range(20000)]
    assert statistics.fmean(xs) == pytest.approx(0.1, rel=0.03)
    assert statistics.stdev(xs) == pytest.approx(0.03, rel=0.08)


def test_deterministic_with_seed() -> None:
    d = Dist("lognormal", 0.1, 0.05, 0.0, 10.0)
    a = [d.draw(r) for r in [random.Random(5)] for _ in range(10)]
    b = [d.draw(r) for r in [random.Random(5)] for _ in range(10)]
    assert a == b
