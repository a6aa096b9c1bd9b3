"""Synthetic prompts with controlled lengths, shared prefixes and unique suffixes.

A prompt is built from common English words, one word per token for the usual BPE
tokenizers and exactly one token per word for servegate's simulator. Each prompt starts with
a unique marker so two requests never share more than their intended prefix: identical
prompts would otherwise be served from the prefix cache and flatter TTFT.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from servegate.config.profile import Distribution, PrefixGroups

WORDS: tuple[str, ...] = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "it",
    "an",
    "be",
    "this",
    "are",
    "or",
    "which",
    "river",
    "stone",
    "cloud",
    "paper",
    "garden",
    "window",
    "summer",
    "winter",
    "music",
    "market",
    "letter",
    "bridge",
    "forest",
    "number",
    "circle",
    "silver",
    "orange",
    "yellow",
    "little",
    "simple",
    "common",
    "modern",
    "famous",
    "public",
    "school",
    "family",
    "answer",
    "travel",
    "follow",
    "listen",
    "wonder",
    "gather",
    "create",
    "mirror",
    "shadow",
    "signal",
    "harbor",
    "engine",
    "planet",
    "season",
    "island",
    "canyon",
    "valley",
    "meadow",
    "breeze",
    "thunder",
    "lantern",
    "compass",
)


def draw_length(dist: Distribution, rng: random.Random) -> int:
    """One length from ``dist``, clamped to [min, max]."""
    hi = dist.upper
    if dist.dist == "constant":
        v = dist.mean
    elif dist.dist == "uniform":
        return rng.randint(dist.min, hi)
    elif dist.dist == "normal":
        v = rng.gauss(dist.mean, dist.stdev)
    else:
        # lognormal with the requested mean and stdev of the length itself
        sigma2 = math.log1p((dist.stdev / dist.mean) ** 2)
        v = rng.lognormvariate(math.log(dist.mean) - sigma2 / 2, math.sqrt(sigma2))
    return int(min(hi, max(dist.min, round(v))))


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    tokens: int  # intended prompt length (prefix + marker + suffix words)
    max_tokens: int
    group: int | None
    suffix: str = ""  # the unique part alone (a RAG chain embeds this, not the context)


#: Cuts a word sequence to exactly n tokens of a tokenizer: (text, tokens it has).
Fit = Callable[[Sequence[str], int], tuple[str, int]]


class PromptFactory:
    """Deterministic prompts for one worker: same seed and worker name, same sequence.

    With ``fit`` (a local tokenizer) each prompt part is cut to its exact token count;
    without it a word counts as one token."""

    def __init__(
        self,
        prompt: Distribution,
        output: Distribution,
        prefix: PrefixGroups | None,
        seed: int,
        worker: str,
        fit: Fit | None = None,
    ) -> None:
        self._prompt, self._output, self._prefix = prompt, output, prefix
        self._fit = fit
        self._rng = random.Random(f"{seed}:{worker}")
        self._worker = worker
        self._n = 0
        self._prefixes: list[str] = []
        if prefix is not None:
            # prefixes depend on the seed only, so every worker shares the same groups
            prng = random.Random(f"{seed}:prefix")
            self._prefixes = [
                self._join([prng.choice(WORDS) for _ in range(prefix.length)], prefix.length)
                for _ in range(prefix.groups)
            ]

    def _join(self, words: Sequence[str], n: int) -> str:
        return " ".join(words) if self._fit is None else self._fit(words, n)[0]

    def next(self) -> Prompt:
        self._n += 1
        n_words = draw_length(self._prompt, self._rng)
        max_tokens = draw_length(self._output, self._rng)
        marker = f"r{self._worker}x{self._n}"  # one token-ish unique word
        words = [marker, *(self._rng.choice(WORDS) for _ in range(max(0, n_words - 1)))]
        text = suffix = self._join(words, n_words)
        group = None
        tokens = n_words
        if self._prefixes:
            group = self._rng.randrange(len(self._prefixes))
            text = self._prefixes[group] + " " + text
            assert self._prefix is not None
            tokens += self._prefix.length
        return Prompt(text=text, tokens=tokens, max_tokens=max_tokens, group=group, suffix=suffix)
