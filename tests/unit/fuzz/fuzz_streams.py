"""Bytes of OpenAI-compatible answers, good and bad, shared by the load-engine fuzz tests."""

from __future__ import annotations

import orjson
from hypothesis import strategies as st


def chunk(content: str, usage: dict[str, object] | None = None) -> bytes:
    """One SSE event: a content delta, or (with ``usage``) the closing usage chunk."""
    doc: dict[str, object] = {"choices": [{"index": 0, "delta": {"content": content}}]}
    if usage is not None:
        doc = {"choices": [], "usage": usage}
    return b"data: " + orjson.dumps(doc) + b"\n\n"


GOOD_STREAM = (
    chunk("Hello")
    + chunk(" world")
    + chunk("", {"prompt_tokens": 3, "completion_tokens": 2})
    + b"data: [DONE]\n\n"
)
GOOD_BODY = orjson.dumps(
    {
        "choices": [{"index": 0, "message": {"content": "Hello world"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
)

# Pieces a server (or a proxy in front of it) may send, well-formed or not.
PIECES = st.sampled_from(
    [
        b"data: ",
        b"data:",
        b"data: [DONE]",
        b"[DONE]",
        b"event: error",
        b"id: 7",
        b"retry: x",
        b": keep-alive",
        b"\n",
        b"\r\n",
        b"\r",
        b"\n\n",
        b'{"choices": [{"delta": {"content": "x"}}]}',
        b'{"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}]}',
        b'{"choices": null, "usage": {"completion_tokens": -5}}',
        b'{"choices": [1, "a", null]}',
        b'{"usage": {"prompt_tokens": 99999999999999999999}}',
        b'{"error": {"message": "\\ud800"}}',
        b'{"choices": [{"delta": {"tool_calls": [{"id": 1}]}}]}',
        b'{"servegate": {"recv_ns": "x", "emit_ns": 1e400}}',
        b"<html>",
        b"\xff\xfe\xc3",
        b"\x00",
        "é€".encode(),
    ]
)
