"""Prompt lengths follow their distributions; prompts never repeat beyond the shared prefix."""

from __future__ import annotations

import random
import statistics

import pytest

from servegate.config.profile import Distribution, PrefixGroups
from servegate.load.prompts import PromptFactory, draw_length


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "normal", "mean": 200, "stdev": 40, "min": 50, "max": 400},
        {"dist": "lognormal", "mean": 300, "stdev": 150, "min": 1, "max": 5000},
        {"dist": "uniform", "mean": 150, "min": 100, "max": 200},
    ],
)
def test_lengths_match_mean_and_respect_bounds(spec: dict[str, object]) -> None:
    dist = Distribution.model_validate(spec)
    rng = random.Random(0)
    xs = [draw_length(dist, rng) for _ in range(20_000)]
    assert min(xs) >= dist.min and max(xs) <= dist.upper
    assert statistics.fmean(xs) == pytest.approx(dist.mean, rel=0.03)
    if dist.dist != "uniform":
        assert statistics.stdev(xs) == pytest.approx(dist.stdev, rel=0.1)


def test_constant_is_constant() -> None:
    dist = Distribution(dist="constant", mean=17)
    assert {draw_length(dist, random.Random(i)) for i in range(50)} == {17}


def _factory(worker: str = "w0", seed: int = 1) -> PromptFactory:
    return PromptFactory(
        Distribution(dist="uniform", mean=20, min=10, max=30),
        Distribution(dist="constant", mean=8),
        PrefixGroups(groups=3, length=50),
        seed,
        worker,
    )


def test_prompts_share_only_their_group_prefix() -> None:
    f = _factory()
    prompts = [f.next() for _ in range(60)]
    assert len({p.text for p in prompts}) == len(prompts)  # unique suffixes
    groups = {p.group for p in prompts}
    assert groups == {0, 1, 2}
    for p in prompts:
        words = p.text.split()
        assert len(words) == p.tokens
        assert words[50:] == p.suffix.split()
        assert 10 <= len(p.suffix.split()) <= 30
    same = [p for p in prompts if p.group == 0]
    assert len({" ".join(p.text.split()[:50]) for p in same}) == 1


def test_workers_share_prefixes_but_not_prompts() -> None:
    a = [_factory("w0").next() for _ in range(1)] + [_factory("w1").next()]
    assert a[0].text != a[1].text
    fa, fb = _factory("w0"), _factory("w1")
    pa = {p.group: p.text.split()[:50] for p in (fa.next() for _ in range(30))}
    pb = {p.group: p.text.split()[:50] for p in (fb.next() for _ in range(30))}
    assert all(pa[g] == pb[g] for g in pa.keys() & pb.keys())


def test_seed_reproduces_the_sequence() -> None:
    fa, fb, fc = _factory(seed=1), _factory(seed=1), _factory(seed=2)
    seq_a = [fa.next().text for _ in range(5)]
    assert seq_a == [fb.next().text for _ in range(5)]
    assert len(set(seq_a)) == 5
    assert seq_a != [fc.next().text for _ in range(5)]
