"""The per-request record: the one raw fact every servegate figure is computed from.

Times are integer nanoseconds. ``sent_ns`` and ``scheduled_ns`` are wall-anchored monotonic
times (see :func:`servegate.metrics.clock.now_ns`): durations between them are monotonic
differences, immune to NTP steps, while the absolute value still places the request on a
shared time line across worker processes. Chunk arrivals are stored as offsets from
``sent_ns`` to keep the JSONL compact.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class ErrorKind(enum.StrEnum):
    """Classified failure of one request. ``None`` on a record means success."""

    CONNECT = "connect"  # refused, reset before a response, DNS failure
    TIMEOUT = "timeout"  # no response, or the stream stalled past the read timeout
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    NOT_JSON = "not_json"  # a body or an SSE data line that is not the JSON expected
    BAD_SSE = "bad_sse"  # malformed event stream framing
    TRUNCATED = "truncated"  # stream ended without [DONE] / finish_reason
    EMPTY = "empty"  # a success status with no content at all
    CLIENT = "client"  # an exception inside the load generator itself


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    api: str  # "chat" | "completions" | "embeddings"
    stream: bool
    sent_ns: int  # actual send time (wall-anchored monotonic)
    end_ns: int  # last byte received, or the moment the failure was seen
    scheduled_ns: int | None = None  # open-loop: when the pacer meant to send it
    # One (offset from sent_ns, tokens carried) pair per chunk that carried content
    # (text, reasoning text or a tool call). Role-only, usage-only and [DONE] events are
    # not listed. For a non-streamed response there is one pair at the body's arrival.
    chunks: list[tuple[int, int]] = field(default_factory=list)
    status: int | None = None
    error: ErrorKind | None = None
    error_detail: str = ""
    prompt_tokens: int | None = None  # server usage
    completion_tokens: int | None = None  # server usage
    client_tokens: int = 0  # client-side count (content chunks / tokenizer estimate)
    prompt_len_requested: int | None = None
    output_len_requested: int | None = None
    # Server-side timestamps (the simulator's, same host clock) for timing-error checks:
    # server receive time and emit time of the first content chunk, when provided.
    server_recv_ns: int | None = None
    server_first_ns: int | None = None
    server_chunk_ns: list[int] | None = None
    # The engine's own timings of this request, when it reports them (llama.cpp's
    # ``timings``: prompt_n, prompt_ms, predicted_n, predicted_ms, cache_n), for cross-checks.
    engine_timings: dict[str, float] | None = None
    worker: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["error"] = self.error.value if self.error is not None else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RequestRecord:
        d = dict(d)
        err = d.get("error")
        d["error"] = ErrorKind(err) if err is not None else None
        d["chunks"] = [(int(o), int(t)) for o, t in d.get("chunks", [])]
        return cls(**d)
