"""Counting prompt tokens, and cutting text to an exact token count, before a run starts.

Three counters, chosen by the profile's ``tokenizer.source``:

- ``words``: one token per whitespace-separated word. servegate's simulator counts the
  prompts servegate makes exactly this way; for a real model it is an estimate.
- ``file``: a Hugging Face ``tokenizer.json`` loaded with the ``tokenizers`` package.
- ``server``: the endpoint's ``POST /tokenize`` (vLLM's: ``{"model", "prompt"}`` in,
  ``{"count", ...}`` out), one call per text.

``fit`` makes a text of exactly ``n`` tokens from a longer word sequence; with a real
tokenizer the cut can land inside a word, so it re-counts and shortens until the count is
``n`` or it gives up (the result then says how many tokens it has).
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import orjson

from servegate.config.workload import TokenCounter
from servegate.errors import UserError

FIT_ATTEMPTS = 8


class Counter(Protocol):
    label: str

    def count(self, texts: Sequence[str]) -> list[int]: ...

    def fit(self, words: Sequence[str], n: int) -> tuple[str, int]: ...


class WordCounter:
    label = "words (one token per whitespace word)"

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def fit(self, words: Sequence[str], n: int) -> tuple[str, int]:
        if len(words) < n:
            raise ValueError(f"{len(words)} words cannot make {n} tokens")
        return " ".join(words[:n]), n


class _Refitting:
    """``fit`` by word prefixes for counters that only count (server, file fallback)."""

    def count(self, texts: Sequence[str]) -> list[int]:  # pragma: no cover - overridden
        raise NotImplementedError

    def fit(self, words: Sequence[str], n: int) -> tuple[str, int]:
        """The longest prefix of ``words`` with at most ``n`` tokens (bisection on counts)."""
        lo, hi = 0, min(len(words), n)  # a word is at least one token
        best = ("", 0)
        for _ in range(32):
            if lo > hi:
                break
            mid = (lo + hi + 1) // 2
            text = " ".join(words[:mid])
            c = self.count([text])[0] if mid else 0
            if c <= n:
                best = (text, c)
                if c == n:
                    break
                lo = mid + 1
            else:
                hi = mid - 1
        return best


class FileCounter(_Refitting):
    def __init__(self, path: Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - a dependency of servegate
            raise UserError(
                f"tokenizer.source: file needs the tokenizers package ({exc})"
            ) from None
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises plain Exception subclasses
            raise UserError(f"{path}: not a usable tokenizer.json: {exc}") from None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self.label = f"tokenizer.json {path.name} (sha256 {digest})"

    def count(self, texts: Sequence[str]) -> list[int]:
        encs = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encs]

    def fit(self, words: Sequence[str], n: int) -> tuple[str, int]:
        ids = self._tok.encode(" ".join(words), add_special_tokens=False).ids
        if len(ids) < n:
            raise ValueError(f"{len(ids)} tokens cannot make {n}")
        cut = n
        for _ in range(FIT_ATTEMPTS):
            text = self._tok.decode(ids[:cut])
            c = self.count([text])[0]
            if c == n:
                return text, c
            cut += n - c  # decoding then re-encoding merged or split at the cut
            if not 0 < cut <= len(ids):
                break
        return super().fit(words, n)


class ServerCounter(_Refitting):
    def __init__(self, url: str, model: str, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/") + "/tokenize"
        self._model = model
        self._timeout = timeout
        self.label = f"server POST {self._url}"

    def _one(self, text: str) -> int:
        body = orjson.dumps({"model": self._model, "prompt": text, "add_special_tokens": False})
        req = urllib.request.Request(
            self._url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                doc = orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise UserError(
                f"{self._url}: HTTP {exc.code}; the server has no /tokenize"
                " (use tokenizer.source: file or words)"
            ) from None
        except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
            raise UserError(f"{self._url}: {exc}") from None
        count = doc.get("count") if isinstance(doc, dict) else None
        if not isinstance(count, int):
            raise UserError(f"{self._url}: answer has no integer count")
        return count

    def count(self, texts: Sequence[str]) -> list[int]:
        return [self._one(t) for t in texts]


def make_counter(spec: TokenCounter, url: str, model: str) -> Counter:
    if spec.source == "file":
        assert spec.path is not None
        path = Path(spec.path)
        if not path.is_file():
            raise UserError(f"tokenizer.path: {path}: no such file")
        return FileCounter(path)
    if spec.source == "server":
        return ServerCounter(url, model)
    return WordCounter()
