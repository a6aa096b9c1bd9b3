"""What a profile sends beyond synthetic lengths: data sets, traces, conversations, model mixes,
the token counter, and how connections are used.

Paths in these models are relative to the profile file's directory (see
:func:`absolute_paths`); nothing here reads a file. The load engine reads them before the run
starts (``servegate.load.workload``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from servegate.config.base import StrictModel
from servegate.config.slo import SLOSpec

MAX_ITEMS = 1_000_000


class LengthRange(StrictModel):
    """Keep an entry only when its length in tokens lies in [min, max]."""

    min: int = Field(1, ge=1)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> LengthRange:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self

    def holds(self, n: int) -> bool:
        return n >= self.min and (self.max is None or n <= self.max)


class Dataset(StrictModel):
    """Prompts read from a file or a saved Hugging Face dataset instead of synthetic words.

    Formats: ``sharegpt`` (a JSON list of ``{"conversations": [{"from", "value"}, ...]}``: the
    first human turn is the prompt, the reply after it sets the output length), ``jsonl`` (one
    object per line), ``csv`` (a header row), ``hf`` (a directory written by ``datasets``'
    ``save_to_disk``). For jsonl, csv and hf, ``prompt_field`` names the prompt and
    ``output_field`` (optional) the reply text or an integer output length.
    """

    format: Literal["sharegpt", "jsonl", "csv", "hf"]
    path: str = Field(..., min_length=1, description="relative to the profile's directory")
    prompt_field: str = Field("prompt", min_length=1, description="jsonl, csv, hf")
    output_field: str | None = Field(
        None, min_length=1, description="reply text or output length in tokens (jsonl, csv, hf)"
    )
    split: str | None = Field(None, min_length=1, description="hf: split of a DatasetDict")
    prompt_tokens: LengthRange = Field(default_factory=lambda: LengthRange())
    output_tokens: LengthRange = Field(default_factory=lambda: LengthRange())
    sample: int | None = Field(
        None, ge=1, le=MAX_ITEMS, description="keep this many entries, drawn with the seed"
    )


class Trace(StrictModel):
    """Arrival times and lengths replayed from a public trace (open loop, ``arrival: trace``).

    ``azure``: Azure LLM inference trace CSV (TIMESTAMP, ContextTokens, GeneratedTokens);
    ``burstgpt``: BurstGPT CSV (Timestamp in seconds, Request tokens, Response tokens);
    ``mooncake``: Mooncake JSONL (timestamp in ms, input_length, output_length).
    Times start at the first entry; ``time_scale`` multiplies every gap (0.5 plays twice as
    fast); the replay stops at ``max_requests`` or at the shape's duration.
    """

    format: Literal["azure", "burstgpt", "mooncake"]
    path: str = Field(..., min_length=1, description="relative to the profile's directory")
    time_scale: float = Field(1.0, gt=0, description="multiplies every inter-arrival gap")
    start: float = Field(0.0, ge=0, description="skip this many trace seconds first")
    max_requests: int | None = Field(None, ge=1, le=MAX_ITEMS)
    max_prompt_tokens: int | None = Field(
        None, ge=1, description="clamp longer prompts (a trace may exceed the model's context)"
    )
    max_output_tokens: int | None = Field(None, ge=1, description="clamp longer outputs")


class Conversation(StrictModel):
    """Closed loop: each user holds a conversation of ``turns`` requests, each carrying the
    whole history (its earlier prompts and the server's replies), then starts a new one."""

    turns: int = Field(..., ge=1, le=1000, description="requests per conversation")
    think_time: float = Field(0.0, ge=0, description="seconds between a reply and the next turn")
    keep_connection: bool = Field(
        True, description="a conversation keeps one connection for all its turns"
    )


class ModelShare(StrictModel):
    """One model name (or LoRA adapter, as vLLM serves them) of a mix, with its weight."""

    name: str = Field(..., min_length=1)
    weight: float = Field(1.0, gt=0)
    slo: SLOSpec | None = Field(None, description="this model's own SLO in the report")


class TokenCounter(StrictModel):
    """Who counts prompt tokens: ``file`` (a local tokenizer.json, the ``tokenizers``
    package), ``server`` (the endpoint's vLLM-style ``POST /tokenize``) or ``words`` (one
    token per whitespace word: exact for servegate's simulator, an estimate elsewhere)."""

    source: Literal["words", "file", "server"] = "words"
    path: str | None = Field(None, min_length=1, description="file: the tokenizer.json")

    @model_validator(mode="after")
    def _check(self) -> TokenCounter:
        if (self.source == "file") != (self.path is not None):
            raise ValueError("path is required with source: file, and only then")
        return self


class Connections(StrictModel):
    """``keep-alive``: connections are reused; ``every``: each connection is closed after
    ``requests`` requests; ``per-request``: a new connection for every request."""

    mode: Literal["keep-alive", "every", "per-request"] = "keep-alive"
    requests: int | None = Field(None, ge=1, description="every: requests per connection")

    @model_validator(mode="after")
    def _check(self) -> Connections:
        if (self.mode == "every") != (self.requests is not None):
            raise ValueError("requests is required with mode: every, and only then")
        return self

    @property
    def per_connection(self) -> int | None:
        """Requests a connection carries before it is closed; None: unlimited."""
        if self.mode == "per-request":
            return 1
        return self.requests


def absolute_paths(doc: dict[str, Any], base: Path) -> dict[str, Any]:
    """A copy of a profile document whose data paths are absolute (relative to ``base``)."""
    out = dict(doc)
    for key in ("dataset", "trace", "tokenizer"):
        part = out.get(key)
        if isinstance(part, dict) and isinstance(part.get("path"), str):
            p = Path(part["path"])
            out[key] = {**part, "path": str(p if p.is_absolute() else (base / p).resolve())}
    return out
