"""Cost maths against figures computed by hand."""

from __future__ import annotations

import math

import pytest

from servegate.metrics.cost import (
    usd_for_gpu_hours,
    usd_per_1k_requests,
    usd_per_hour,
    usd_per_million_tokens,
    usd_per_million_tokens_total,
)


def test_per_million_tokens_one_gpu() -> None:
    # $2/h = $0.000556/s; at 1000 tok/s a million tokens take 1000 s -> $0.5556.
    assert math.isclose(usd_per_million_tokens(1, 2.0, 1000.0), 2.0 / 3.6)


def test_per_million_tokens_scales_with_gpus_and_rate() -> None:
    # 4 GPUs x $3/h = $12/h; 2500 tok/s -> 1e6 tokens in 400 s = 1/9 h -> $1.3333.
    assert math.isclose(usd_per_million_tokens(4, 3.0, 2500.0), 12.0 / 9.0)


def test_per_1k_requests() -> None:
    # 2 GPUs x $1.8/h = $0.001/s; 5 req/s -> 1000 requests in 200 s -> $0.20.
    assert math.isclose(usd_per_1k_requests(2, 1.8, 5.0), 0.2)


def test_totals() -> None:
    assert math.isclose(usd_per_hour(3, 2.5), 7.5)
    assert math.isclose(usd_for_gpu_hours(288.0, 2.0), 576.0)
    # $576 over 1.44e9 tokens -> $0.40 per million.
    assert math.isclose(usd_per_million_tokens_total(576.0, 1.44e9), 0.4)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: usd_per_million_tokens(1, 2.0, 0.0), "tokens_per_s"),
        (lambda: usd_per_1k_requests(1, 2.0, float("nan")), "requests_per_s"),
        (lambda: usd_per_hour(-1, 2.0), "gpus"),
        (lambda: usd_for_gpu_hours(1.0, float("inf")), "usd_per_gpu_hour"),
        (lambda: usd_per_million_tokens_total(10.0, 0.0), "tokens"),
    ],
)
def test_bad_inputs_name_the_argument(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]
