"""Token counting rule, deterministic text, and output-length planning."""

from __future__ import annotations

import orjson
import pytest

from servegate.sim.gen import plan_length
from servegate.sim.oai import ApiError
from servegate.sim.tokens import (
    VOCAB,
    VOCAB_JSON,
    count_chat,
    count_prompt,
    count_text,
    output_text,
    text_key,
)


def test_counting_rule() -> None:
    assert count_text("Hello, world!") == 4
    assert count_text("") == 0
    assert count_text("  a  b\tc\n") == 3
    assert count_prompt([1, 2, 3]) == 3
    assert count_chat([("system", "be brief"), ("user", "hi")]) == 2 + 1 + 2 * 4


def test_vocab_json_matches_vocab() -> None:
    assert [orjson.loads(b'"' + j + b'"') for j in VOCAB_JSON] == list(VOCAB)


def test_output_text_deterministic_and_counts() -> None:
    k = text_key(0, ["user", "hello"])
    assert output_text(k, 20) == output_text(k, 20)
    assert count_text(output_text(k, 20)) == 20
    assert output_text(text_key(1, ["user", "hello"]), 20) != output_text(k, 20)


def plan(**kw: object) -> tuple[int, str]:
    args: dict[str, object] = dict(
        key=123,
        prompt_tokens=10,
        max_tokens=None,
        min_tokens=0,
        ignore_eos=False,
        max_model_len=100,
        default_max_tokens=50,
        mean=20.0,
        stdev=0.0,
    )
    args.update(kw)
    return plan_length(**args)  # type: ignore[arg-type]


def test_ignore_eos_gives_exactly_max_tokens() -> None:
    assert plan(max_tokens=37, ignore_eos=True) == (37, "length")


def test_natural_length_stops_early_and_min_tokens_raises_it() -> None:
    assert plan(max_tokens=40) == (20, "stop")
    assert plan(max_tokens=40, min_tokens=30) == (30, "stop")
    assert plan(max_tokens=15) == (15, "length")


def test_default_max_tokens_limited_by_context() -> None:
    assert plan(prompt_tokens=95, ignore_eos=True) == (5, "length")
    assert plan(ignore_eos=True) == (50, "length")


@pytest.mark.parametrize(
    "kw", [{"prompt_tokens": 100}, {"max_tokens": 95}, {"max_tokens": 5, "min_tokens": 6}]
)
def test_impossible_requests_are_400(kw: dict[str, object]) -> None:
    with pytest.raises(ApiError) as exc:
        plan(**kw)
    assert exc.value.status == 400
