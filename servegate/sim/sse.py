"""Byte templates of vLLM's streamed chunks, built once per request.

A content event is ``prefix + token + suffix``: the token body is already JSON-escaped
(see :mod:`servegate.sim.tokens`), so emitting a token is two concatenations and one
transport write. Shapes follow vLLM's OpenAI server: chat starts with a role-only delta
(``{"role":"assistant","content":""}``), the last content chunk carries ``finish_reason``,
then an optional usage chunk with empty ``choices``, then ``data: [DONE]``.
"""

from __future__ import annotations

import time
from typing import Literal

import orjson

DONE = b"data: [DONE]\n\n"
Kind = Literal["chat", "completion"]


class StreamTemplate:
    __slots__ = ("_head", "_last", "_mid", "_prefix", "model", "recv_ns", "timestamps")

    def __init__(
        self,
        kind: Kind,
        request_id: str,
        created: int,
        model: str,
        finish_reason: str,
        recv_ns: int,
        timestamps: bool,
    ) -> None:
        self.model = model
        obj = b"chat.completion.chunk" if kind == "chat" else b"text_completion"
        self._head = b'data: {"id":%s,"object":"%s","created":%d,"model":%s,"choices":[' % (
            orjson.dumps(request_id),
            obj,
            created,
            orjson.dumps(model),
        )
        fin = orjson.dumps(finish_reason)
        if kind == "chat":
            self._prefix = self._head + b'{"index":0,"delta":{"content":"'
            self._mid = b'"},"logprobs":null,"finish_reason":null}]'
            self._last = b'"},"logprobs":null,"finish_reason":%s}]' % fin
        else:
            self._prefix = self._head + b'{"index":0,"text":"'
            self._mid = b'","logprobs":null,"finish_reason":null,"stop_reason":null}]'
            self._last = b'","logprobs":null,"finish_reason":%s,"stop_reason":null}]' % fin
        self.recv_ns = recv_ns
        self.timestamps = timestamps

    def role(self) -> bytes:
        return (
            self._head
            + b'{"index":0,"delta":{"role":"assistant","content":""},'
            + b'"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def token(self, token_json: bytes, last: bool) -> bytes:
        tail = self._last if last else self._mid
        if self.timestamps:
            ts = b',"servegate":{"recv_ns":%d,"emit_ns":%d}}\n\n' % (
                self.recv_ns,
                time.perf_counter_ns(),
            )
            return self._prefix + token_json + tail + ts
        return self._prefix + token_json + tail + b"}\n\n"

    def usage(self, prompt: int, completion: int) -> bytes:
        return (
            self._head
            + b'],"usage":{"prompt_tokens":%d,"total_tokens":%d,'
            % (
                prompt,
                prompt + completion,
            )
            + b'"completion_tokens":%d}}\n\n' % completion
        )

    def malformed(self, variant: int) -> bytes:
        """An event a client must reject: cut JSON, or a line that is no SSE field."""
        if variant == 0:
            return self._prefix + b"\n\n"
        return b"servegate-garbage \x01 not an SSE line\n\n"
