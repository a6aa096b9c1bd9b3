"""Request bodies and non-streamed response classification."""

from __future__ import annotations

import orjson
import pytest

from servegate.load.openai import apply_body, build_body, classify_status
from servegate.metrics.record import ErrorKind, RequestRecord


def _rec(api: str = "chat") -> RequestRecord:
    return RequestRecord(request_id="r", api=api, stream=False, sent_ns=0, end_ns=0)


def test_streamed_chat_asks_for_usage_and_pins_length() -> None:
    body = build_body("chat", "m", "hi", 32, True, ignore_eos=True, min_tokens=True)
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["stream_options"] == {"include_usage": True}
    assert body["ignore_eos"] is True
    assert body["min_tokens"] == body["max_tokens"] == 32


def test_plain_completion_body_has_no_stream_options_or_pins() -> None:
    body = build_body("completions", "m", "hi", 8, False, ignore_eos=False, min_tokens=False)
    assert body["prompt"] == "hi"
    assert not {"stream_options", "ignore_eos", "min_tokens", "messages"} & set(body)


def test_embeddings_body_is_minimal() -> None:
    assert build_body("embeddings", "m", "x", 1, True, True, True) == {"model": "m", "input": "x"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, None),
        (204, None),
        (404, ErrorKind.HTTP_4XX),
        (429, ErrorKind.HTTP_4XX),
        (500, ErrorKind.HTTP_5XX),
        (503, ErrorKind.HTTP_5XX),
        (302, ErrorKind.NOT_JSON),
    ],
)
def test_status_classes(status: int, kind: ErrorKind | None) -> None:
    assert classify_status(status) is kind


def test_chat_body_uses_server_usage() -> None:
    rec = _rec()
    body = {
        "choices": [{"message": {"content": "one two three"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4},
    }
    apply_body("chat", orjson.dumps(body), 1000, rec)
    assert rec.error is None
    assert (rec.prompt_tokens, rec.completion_tokens, rec.client_tokens) == (5, 4, 3)
    assert rec.chunks == [(1000, 4)]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"<html>502</html>", ErrorKind.NOT_JSON),
        (b"[1, 2]", ErrorKind.NOT_JSON),
        (b'{"object": "list"}', ErrorKind.NOT_JSON),
        (b'{"choices": [{"message": {"content": ""}}]}', ErrorKind.EMPTY),
        (b'{"error": {"message": "overloaded"}}', ErrorKind.HTTP_5XX),
    ],
)
def test_bad_chat_bodies_are_classified(raw: bytes, kind: ErrorKind) -> None:
    rec = _rec()
    apply_body("chat", raw, 1, rec)
    assert rec.error is kind
    assert rec.error_detail


def test_embeddings_body() -> None:
    rec = _rec("embeddings")
    apply_body(
        "embeddings",
        b'{"data": [{"embedding": [0.1, 0.2]}], "usage": {"prompt_tokens": 3}}',
        50,
        rec,
    )
    assert rec.error is None and rec.prompt_tokens == 3 and rec.chunks == [(50, 0)]
    rec2 = _rec("embeddings")
    apply_body("embeddings", b'{"data": []}', 50, rec2)
    assert rec2.error is ErrorKind.EMPTY


def test_non_streamed_engine_timings() -> None:
    rec = _rec()
    body = {"choices": [{"message": {"content": "a"}}], "timings": {"prompt_ms": 2, "cache_n": 0}}
    apply_body("chat", orjson.dumps(body), 1, rec)
    assert rec.engine_timings == {"prompt_ms": 2.0, "cache_n": 0.0}
    rec2 = _rec()
    apply_body("chat", orjson.dumps({"choices": [{"message": {"content": "a"}}]}), 1, rec2)
    assert rec2.engine_timings is None


def test_non_streamed_server_timestamps() -> None:
    rec = _rec()
    body = {"choices": [{"message": {"content": "a"}}], "servegate": {"recv_ns": 5, "emit_ns": 9}}
    apply_body("chat", orjson.dumps(body), 1, rec)
    assert (rec.server_recv_ns, rec.server_first_ns, rec.server_chunk_ns) == (5, 9, [9])
