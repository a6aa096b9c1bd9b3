"""Model mixes, connection churn, exact token fits and the profile rules around them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from servegate.config.profile import Profile
from servegate.config.workload import ModelShare
from servegate.load.mix import ConnectionBudget, ModelMix
from servegate.load.openai import build_body
from servegate.load.tokencount import FileCounter, WordCounter

TOKENIZER = Path(__file__).resolve().parents[3] / "loadprofiles" / "data" / "tokenizer.json"


def test_mix_follows_the_weights_and_the_seed() -> None:
    shares = [ModelShare(name="a", weight=3), ModelShare(name="b", weight=1)]
    picks = [ModelMix(shares, 5, "w0").pick() for _ in range(1)]
    mix = ModelMix(shares, 5, "w0")
    got = Counter(mix.pick() for _ in range(4000))
    # binomial(4000, 0.75): mean 3000, sd 27.4; 5 sd either side
    assert 3000 - 137 < got["a"] < 3000 + 137 and got["a"] + got["b"] == 4000
    assert ModelMix(shares, 5, "w0").pick() == picks[0]  # same seed and worker, same draw
    assert ModelMix([], 5, "w0").pick() is None


def test_connection_budget_closes_every_nth_request() -> None:
    b = ConnectionBudget(3)
    assert [b.closing() for _ in range(7)] == [False, False, True, False, False, True, False]
    assert not any(ConnectionBudget(None).closing() for _ in range(5))
    assert all(ConnectionBudget(1).closing() for _ in range(5))


def test_history_goes_before_the_prompt() -> None:
    hist = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]
    body = build_body("chat", "m", "q2", 5, True, False, False, hist)
    assert body["messages"] == [*hist, {"role": "user", "content": "q2"}]
    assert build_body("chat", "m", "q", 5, False, False, False)["messages"] == [
        {"role": "user", "content": "q"}
    ]


@pytest.mark.parametrize("n", [1, 2, 7, 33, 120])
def test_file_tokenizer_fit_is_exact_by_the_tokenizers_own_count(n: int) -> None:
    from tokenizers import Tokenizer

    counter = FileCounter(TOKENIZER)
    words = ["r0x17", *(["garden", "thunder", "a", "modern", "canyon"] * 40)]
    text, got = counter.fit(words, n)
    assert got == n
    assert len(Tokenizer.from_file(str(TOKENIZER)).encode(text, add_special_tokens=False).ids) == n


def test_word_counter_counts_whitespace_words() -> None:
    assert WordCounter().count(["a b  c", "x"]) == [3, 1]
    assert WordCounter().fit(["a", "b", "c"], 2) == ("a b", 2)


BASE = {
    "kind": "Profile",
    "name": "t",
    "api": "chat",
    "model": "m",
    "prompt": {"mean": 8},
    "output": {"mean": 4},
}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"load": {"type": "open"}, "shape": {"type": "replay", "duration": 3}},
            "a trace goes with load.arrival: trace and shape.type: replay",
        ),
        (
            {
                "load": {"type": "open"},
                "shape": {"type": "steady", "level": 1, "duration": 3},
                "conversation": {"turns": 2},
            },
            "conversation needs a closed loop",
        ),
        (
            {
                "load": {"type": "closed"},
                "shape": {"type": "steady", "level": 1, "duration": 3},
                "conversation": {"turns": 2},
                "connections": {"mode": "per-request"},
            },
            "keep_connection needs connections.mode: keep-alive",
        ),
        (
            {
                "load": {"type": "closed"},
                "shape": {"type": "steady", "level": 1, "duration": 3},
                "models": [{"name": "a"}, {"name": "a"}],
            },
            "each name once",
        ),
        (
            {
                "load": {"type": "closed"},
                "shape": {"type": "steady", "level": 1, "duration": 3},
                "connections": {"mode": "every"},
            },
            "requests is required with mode: every",
        ),
    ],
)
def test_profile_refuses_combinations_that_make_no_sense(
    extra: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Profile.model_validate({**BASE, **extra})


def test_a_dataset_profile_needs_no_prompt_lengths_but_a_synthetic_one_does() -> None:
    doc = {
        **BASE,
        "load": {"type": "closed"},
        "shape": {"type": "steady", "level": 1, "duration": 3},
    }
    doc.pop("prompt")
    with pytest.raises(ValidationError, match="give prompt lengths"):
        Profile.model_validate(doc)
    doc["dataset"] = {"format": "sharegpt", "path": "x.json"}
    p = Profile.model_validate(doc).resolved(Path("/data/profiles"))
    assert p.dataset is not None and p.dataset.path == "/data/profiles/x.json"
