"""Byte templates of streamed chunks, and their HTTP chunked framing."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from servegate.sim.http import Request, Responder
from servegate.sim.sse import DONE, StreamTemplate
from servegate.sim.tokens import VOCAB_JSON


def payload(event: bytes) -> dict[str, object]:
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    obj = orjson.loads(event[6:-2])
    assert isinstance(obj, dict)
    return obj


def tpl(kind: str = "chat", ts: bool = False) -> StreamTemplate:
    return StreamTemplate(kind, "chatcmpl-1", 100, 'm"odel', "length", 42, ts)  # type: ignore[arg-type]


def test_chat_role_then_content_then_finish() -> None:
    t = tpl()
    role = payload(t.role())
    assert role["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert role["object"] == "chat.completion.chunk" and role["model"] == 'm"odel'
    mid = payload(t.token(VOCAB_JSON[0], last=False))
    choice = mid["choices"][0]  # type: ignore[index]
    assert choice["delta"] == {"content": " the"} and choice["finish_reason"] is None
    last = payload(t.token(VOCAB_JSON[1], last=True))
    assert last["choices"][0]["finish_reason"] == "length"  # type: ignore[index]
    assert "servegate" not in last


def test_completion_chunk_and_usage() -> None:
    t = tpl("completion")
    c = payload(t.token(VOCAB_JSON[2], last=False))
    assert c["object"] == "text_completion"
    assert c["choices"][0]["text"] == " and"  # type: ignore[index]
    u = payload(t.usage(7, 3))
    assert u["choices"] == []
    assert u["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_timestamps_field() -> None:
    ev = payload(tpl(ts=True).token(VOCAB_JSON[0], last=False))
    stamp = ev["servegate"]
    assert isinstance(stamp, dict)
    assert stamp["recv_ns"] == 42 and stamp["emit_ns"] > 0


def test_malformed_events_are_not_valid_sse_json() -> None:
    bad_json = tpl().malformed(0)
    assert bad_json.startswith(b"data: ")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(bad_json[6:])
    assert not tpl().malformed(1).startswith((b"data:", b":", b"event:", b"id:", b"retry:"))


class FakeConn:
    def __init__(self) -> None:
        self.out = bytearray()
        self.done: list[Responder] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def response_done(self, r: Responder) -> None:
        self.done.append(r)

    def close(self) -> None:
        self.closed = True


def dechunk(body: bytes) -> list[bytes]:
    chunks: list[bytes] = []
    while True:
        size_line, _, body = body.partition(b"\r\n")
        n = int(size_line, 16)
        if n == 0:
            assert body == b"\r\n"
            return chunks
        chunks.append(body[:n])
        assert body[n : n + 2] == b"\r\n"
        body = body[n + 2 :]


def test_stream_framing_one_chunk_per_event() -> None:
    conn = FakeConn()
    r = Responder(conn, Request("POST", "/x", {}, b"", keep_alive=True))  # type: ignore[arg-type]
    t = tpl()
    r.start_stream()
    events = [t.role(), t.token(VOCAB_JSON[0], False), t.token(VOCAB_JSON[1], True), DONE]
    for ev in events:
        r.event(ev)
    r.end_stream()
    head, _, body = bytes(conn.out).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding: chunked" in head and b"x-servegate-recv-ns: " in head
    assert dechunk(body) == events
    assert conn.done == [r]


def test_non_stream_response_and_connection_close() -> None:
    conn = FakeConn()
    r = Responder(conn, Request("GET", "/x", {}, b"", keep_alive=False))  # type: ignore[arg-type]
    r.send(404, b'{"a":1}')
    head, _, body = bytes(conn.out).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found")
    assert b"content-length: 7" in head and b"connection: close" in head
    assert body == b'{"a":1}'


def test_pause_holds_writes_then_flushes() -> None:
    async def go() -> tuple[bytes, bytes, int]:
        conn = FakeConn()
        r = Responder(conn, Request("POST", "/x", {}, b"", True))  # type: ignore[arg-type]
        r.start_stream()
        before = bytes(conn.out)
        r.pause(0.0)
        r.event(b"data: x\n\n")
        r.end_stream()
        held = bytes(conn.out)
        assert conn.done == []  # not finished while held
        await asyncio.sleep(0.01)
        assert held == before
        return held, bytes(conn.out), len(conn.done)

    held, after, done = asyncio.run(go())
    assert after.startswith(held) and after.endswith(b"0\r\n\r\n") and done == 1
