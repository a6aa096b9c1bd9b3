"""SSE framing and OpenAI stream interpretation, byte by byte."""

from __future__ import annotations

import orjson
import pytest

from servegate.load.openai import StreamState
from servegate.load.sse import SSEParser
from servegate.metrics.record import ErrorKind, RequestRecord


def _chat(
    content: str | None = None,
    role: str | None = None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
) -> str:
    delta: dict[str, str] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    doc: dict[str, object] = {
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else []
    }
    if usage is not None:
        doc["usage"] = usage
    return orjson.dumps(doc).decode()


def _stream(*datas: str, eol: str = "\n") -> bytes:
    return "".join(f"data: {d}{eol}{eol}" for d in datas).encode()


def _run(raw: bytes, pieces: int = 1, api: str = "chat") -> tuple[StreamState, SSEParser]:
    parser, state = SSEParser(), StreamState(api)
    size = max(1, len(raw) // pieces)
    for i in range(0, len(raw), size):
        for ev in parser.feed(raw[i : i + size]):
            state.on_event(ev, i)
    for ev in parser.close():
        state.on_event(ev, len(raw))
    state.finish(parser.bad_line)
    return state, parser


GOOD = (
    _chat(role="assistant", content=""),
    _chat("Hello"),
    _chat(" world"),
    _chat(finish="stop"),
    _chat(usage={"prompt_tokens": 7, "completion_tokens": 2}),
    "[DONE]",
)


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("pieces", [1, 3, 17, 10_000])
def test_good_stream_any_split_any_line_ending(eol: str, pieces: int) -> None:
    state, _ = _run(_stream(*GOOD, eol=eol), pieces)
    assert state.error is None
    assert len(state.chunks) == 2  # role-only, finish-only and usage-only chunks carry nothing
    assert state.client_tokens == 2
    assert (state.prompt_tokens, state.completion_tokens) == (7, 2)
    assert state.done and state.finish_reason == "stop"


def test_crlf_split_between_reads_is_one_line_end() -> None:
    raw = _stream(_chat("a"), "[DONE]", eol="\r\n")
    cut = raw.index(b"\r") + 1  # "...}\r" | "\n\r\n..."
    parser, state = SSEParser(), StreamState("chat")
    for part in (raw[:cut], raw[cut:]):
        for ev in parser.feed(part):
            state.on_event(ev, 0)
    state.finish(parser.bad_line)
    assert state.error is None and len(state.chunks) == 1


def test_comments_and_other_fields_are_ignored() -> None:
    raw = (
        b": keep-alive\n\nevent: message\nid: 1\nretry: 100\ndata: "
        + _chat("x").encode()
        + b"\n\n"
        + _stream("[DONE]")
    )
    state, _ = _run(raw)
    assert state.error is None and len(state.chunks) == 1


def test_multiline_data_is_joined_with_newlines() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a":\ndata: 1}\n\n') == ['{"a":\n1}']


def test_missing_done_is_truncated() -> None:
    state, _ = _run(_stream(_chat("Hello"), _chat(" there")))
    assert state.error is ErrorKind.TRUNCATED
    assert len(state.chunks) == 2  # what arrived is kept


def test_garbage_json_is_not_json() -> None:
    state, _ = _run(_stream(_chat("a"), "{not json", "[DONE]"))
    assert state.error is ErrorKind.NOT_JSON


def test_html_body_is_bad_sse() -> None:
    state, parser = _run(b"<html><body><h1>502 Bad Gateway</h1></body></html>\n")
    assert parser.bad_line is not None
    assert state.error is ErrorKind.BAD_SSE


def test_json_body_instead_of_stream_is_bad_sse() -> None:
    state, _ = _run(b'{"choices": []}')
    assert state.error is ErrorKind.BAD_SSE


def test_error_event_mid_stream_is_classified() -> None:
    state, _ = _run(_stream(_chat("a"), '{"error": {"message": "engine dead"}}', "[DONE]"))
    assert state.error is ErrorKind.HTTP_5XX
    assert "engine dead" in state.detail


def test_done_without_content_is_empty() -> None:
    state, _ = _run(_stream(_chat(role="assistant", content=""), "[DONE]"))
    assert state.error is ErrorKind.EMPTY


def test_continuous_usage_gives_tokens_per_chunk() -> None:
    docs = [
        orjson.dumps(
            {
                "choices": [{"delta": {"content": "ab"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            }
        ).decode(),
        orjson.dumps(
            {
                "choices": [{"delta": {"content": "cde"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5},
            }
        ).decode(),
        "[DONE]",
    ]
    state, _ = _run(_stream(*docs))
    assert [n for _, n in state.chunks] == [2, 3]
    assert state.completion_tokens == 5 and state.client_tokens == 2


def test_reasoning_and_tool_calls_count_as_content() -> None:
    docs = [
        orjson.dumps({"choices": [{"delta": {"reasoning_content": "hmm"}}]}).decode(),
        orjson.dumps({"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]}).decode(),
        "[DONE]",
    ]
    state, _ = _run(_stream(*docs))
    assert state.error is None and len(state.chunks) == 2


def test_completions_text_chunks() -> None:
    docs = [orjson.dumps({"choices": [{"text": t}]}).decode() for t in ("a", "", "b")]
    state, _ = _run(_stream(*docs, "[DONE]"), api="completions")
    assert len(state.chunks) == 2


def test_server_timestamps_are_collected() -> None:
    docs = [
        orjson.dumps(
            {
                "choices": [{"delta": {"content": "a"}}],
                "servegate": {"recv_ns": 10, "emit_ns": 20 + i},
            }
        ).decode()
        for i in range(3)
    ]
    state, _ = _run(_stream(*docs, "[DONE]"))
    assert state.server_recv_ns == 10
    assert state.server_chunk_ns == [20, 21, 22]


def test_engine_timings_of_the_last_chunk_are_kept() -> None:
    # llama-server sends its running timings with every chunk; the last one is final
    docs = [
        orjson.dumps(
            {
                "choices": [{"delta": {"content": "a"}}],
                "timings": {"prompt_n": 7, "prompt_ms": 1.5, "predicted_n": i + 1, "x": "no"},
            }
        ).decode()
        for i in range(3)
    ]
    state, _ = _run(_stream(*docs, "[DONE]"))
    assert state.engine_timings == {"prompt_n": 7.0, "prompt_ms": 1.5, "predicted_n": 3.0}
    rec = RequestRecord(request_id="r", api="chat", stream=True, sent_ns=0, end_ns=1)
    state.apply(rec)
    assert RequestRecord.from_json(rec.to_json()).engine_timings == state.engine_timings


def test_chunks_without_timings_keep_the_last_ones_seen() -> None:
    # a later chunk with no timings, or timings that are not an object, changes nothing
    timed = orjson.dumps(
        {"choices": [{"delta": {"content": "a"}}], "timings": {"predicted_n": 1}}
    ).decode()
    not_object = orjson.dumps({"choices": [{"delta": {"content": "b"}}], "timings": [2]}).decode()
    usage = orjson.dumps({"choices": [], "usage": {"completion_tokens": 2}}).decode()
    state, _ = _run(_stream(timed, not_object, usage, "[DONE]"))
    assert state.engine_timings == {"predicted_n": 1.0}
    plain, _ = _run(_stream(_chat("a"), _chat("b"), "[DONE]"))
    assert plain.engine_timings is None


def test_event_after_done_is_bad_sse() -> None:
    state, _ = _run(_stream(_chat("a"), "[DONE]", _chat("b")))
    assert state.error is ErrorKind.BAD_SSE


def test_unterminated_final_line_still_counts() -> None:
    raw = _stream(_chat("a")) + b"data: [DONE]"
    state, _ = _run(raw)
    assert state.error is None and state.done
