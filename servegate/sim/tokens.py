"""Deterministic token counting and output text.

Counting rule (documented in docs/sim.md): a token is a run of word characters (``\\w+``) or
one other non-space character. "Hello, world!" is 4 tokens. A list of integers counts as
that many tokens. Chat prompts add 4 tokens per message for the role and template framing.

Output text is a walk over a fixed vocabulary whose start and stride come from a hash of
the prompt and the seed, so one prompt and one seed always give the same text. Each token
is a space and a word, stored pre-encoded as a JSON string body so streaming never calls a
JSON encoder per token.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import orjson

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
CHAT_TOKENS_PER_MESSAGE = 4

_WORDS = (  # noqa: SIM905 - a word list reads better as text
    "the of and to in is was for on that with as by at from it an be this are or which model "
    "server token batch cache queue request latency stream engine kernel tensor node pod "
    "cluster gpu memory prompt output decode prefill scale shard replica route policy quota "
    "limit metric signal sample window budget target value state event record time fast slow "
    "small large early late first last next open close start stop load save send read write "
    "keep move run wait hold grow fall rise turn pass give take make find show "
).split()

# JSON-escaped bodies (without the surrounding quotes) of each vocabulary token.
VOCAB: tuple[str, ...] = tuple(" " + w for w in _WORDS)
VOCAB_JSON: tuple[bytes, ...] = tuple(orjson.dumps(t)[1:-1] for t in VOCAB)


def count_text(text: str) -> int:
    return len(_TOKEN_RE.findall(text))


def token_texts(text: str) -> list[str]:
    """The tokens of ``text`` under the counting rule (``count_text`` is their number)."""
    return _TOKEN_RE.findall(text)


def count_prompt(prompt: str | Sequence[int]) -> int:
    if isinstance(prompt, str):
        return count_text(prompt)
    return len(prompt)


def count_chat(messages: Sequence[tuple[str, str]]) -> int:
    """Count ``(role, content)`` pairs: content tokens plus framing per message."""
    return sum(count_text(content) + CHAT_TOKENS_PER_MESSAGE for _, content in messages)


def text_key(seed: int, parts: Sequence[str]) -> int:
    """A stable 64-bit key of a prompt and the seed (Python's hash() is salted per process)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(seed.to_bytes(8, "little", signed=False))
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return int.from_bytes(h.digest(), "little")


class TokenWalk:
    """Yields vocabulary indices deterministically from a key: start + i * stride (mod V)."""

    __slots__ = ("_pos", "_stride")

    def __init__(self, key: int) -> None:
        n = len(VOCAB)
        self._pos = key % n
        # A stride coprime with n visits every word; n is checked at import time below.
        self._stride = 1 + (key >> 16) % (n - 1)
        while _gcd(self._stride, n) != 1:
            self._stride += 1

    def next(self) -> int:
        i = self._pos
        self._pos = (i + self._stride) % len(VOCAB)
        return i


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def output_text(key: int, n_tokens: int) -> str:
    walk = TokenWalk(key)
    return "".join(VOCAB[walk.next()] for _ in range(n_tokens))
