"""Shared by chat and completions: output length, faults, and writing the answer.

An endpoint turns its request into a :class:`GenSpec`; :func:`generate` queues it on the
latency model and answers, streamed or not. The sink below is called once per token by the
driver, so it does the least work it can: one template fill and one write.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from servegate.sim.engine import Seq
from servegate.sim.faults import FaultKind, FaultPlan, plan_fault, send_whole
from servegate.sim.http import Request, Responder
from servegate.sim.oai import ApiError, error_body
from servegate.sim.sse import DONE, Kind, StreamTemplate
from servegate.sim.tokens import VOCAB_JSON, TokenWalk, output_text

if TYPE_CHECKING:
    from servegate.sim.app import SimApp


@dataclass(frozen=True, slots=True)
class GenSpec:
    kind: Kind
    prompt_tokens: int
    key: int  # drives the output text and natural length
    max_tokens: int | None
    min_tokens: int
    ignore_eos: bool
    stream: bool
    include_usage: bool
    model: str = ""  # the model or adapter asked for (default: the base model)


def plan_length(
    key: int,
    prompt_tokens: int,
    max_tokens: int | None,
    min_tokens: int,
    ignore_eos: bool,
    *,
    max_model_len: int,
    default_max_tokens: int,
    mean: float,
    stdev: float,
) -> tuple[int, str]:
    """Return (tokens to generate, finish_reason), or raise a 400 like vLLM's length check."""
    room = max_model_len - prompt_tokens
    if room < 1:
        raise ApiError(
            400,
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"request has {prompt_tokens} input tokens.",
            "messages",
        )
    if max_tokens is None:
        max_tokens = min(default_max_tokens, room)
    elif max_tokens > room:
        raise ApiError(
            400,
            f"max_tokens is too large: {max_tokens}. This model's maximum context length is "
            f"{max_model_len} tokens and your request has {prompt_tokens} input tokens.",
            "max_tokens",
        )
    if min_tokens > max_tokens:
        raise ApiError(400, "min_tokens must be less than or equal to max_tokens", "min_tokens")
    if ignore_eos:
        return max_tokens, "length"
    natural = max(1, round(random.Random(key).gauss(mean, stdev)))
    if natural >= max_tokens:
        return max_tokens, "length"
    return max(natural, min_tokens), "stop"


@dataclass(slots=True, eq=False)
class _Sink:
    app: SimApp
    spec: GenSpec
    seq: Seq
    tpl: StreamTemplate
    resp: Responder
    fault: FaultPlan | None
    fut: asyncio.Future[None]
    reason: str
    rid: str
    n: int = field(init=False)
    walk: TokenWalk = field(init=False)

    def __post_init__(self) -> None:
        self.n = self.seq.output_tokens
        self.walk = TokenWalk(self.spec.key)

    def _end(self) -> None:
        if not self.fut.done():
            self.fut.set_result(None)

    def token(self, index: int) -> None:
        if not self.spec.stream:
            return
        resp = self.resp
        fault = self.fault
        if fault is not None and fault.at_token == index:
            if fault.kind is FaultKind.TRUNCATE:
                self.app.abort(self.seq, "abort")
                resp.abort()
                self._end()
                return
            if fault.kind is FaultKind.STALL:
                resp.pause(fault.duration)
            elif fault.kind is FaultKind.MALFORMED:
                resp.event(self.tpl.malformed(fault.variant))
        tok = VOCAB_JSON[self.walk.next()]
        if index == 0 and self.spec.kind == "chat":
            # one write: the first token is stamped right before its bytes leave
            role = self.tpl.role()
            resp.events(role, self.tpl.token(tok, index == self.n - 1))
            return
        resp.event(self.tpl.token(tok, index == self.n - 1))

    def finish(self) -> None:
        if self.fut.done():
            return
        seq, spec, resp, tpl = self.seq, self.spec, self.resp, self.tpl
        self.app.finished(seq, self.reason)
        if spec.stream:
            if spec.include_usage:
                resp.event(tpl.usage(seq.prompt_tokens, seq.generated))
            resp.event(DONE)
            resp.end_stream()
        else:
            self._send_body()
        self._end()

    def _send_body(self) -> None:
        seq, spec, resp = self.seq, self.spec, self.resp
        reason = self.reason
        text = output_text(spec.key, seq.generated)
        if spec.kind == "chat":
            choice: dict[str, object] = {
                "index": 0,
                "message": {"role": "assistant", "content": text, "tool_calls": []},
                "logprobs": None,
                "finish_reason": reason,
                "stop_reason": None,
            }
            obj = "chat.completion"
        else:
            choice = {
                "index": 0,
                "text": text,
                "logprobs": None,
                "finish_reason": reason,
                "stop_reason": None,
            }
            obj = "text_completion"
        body: dict[str, object] = {
            "id": self.rid,
            "object": obj,
            "created": self.app.created,
            "model": self.tpl.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": seq.prompt_tokens,
                "total_tokens": seq.prompt_tokens + seq.generated,
                "completion_tokens": seq.generated,
            },
        }
        if self.tpl.timestamps:
            body["servegate"] = {"recv_ns": self.tpl.recv_ns, "emit_ns": time.perf_counter_ns()}
        send_whole(resp, orjson.dumps(body), self.fault)


async def generate(app: SimApp, spec: GenSpec, req: Request, resp: Responder) -> None:
    s = app.settings
    n, reason = plan_length(
        spec.key,
        spec.prompt_tokens,
        spec.max_tokens,
        spec.min_tokens,
        spec.ignore_eos,
        max_model_len=s.max_model_len,
        default_max_tokens=s.default_max_tokens,
        mean=s.output_len_mean,
        stdev=s.output_len_stdev,
    )
    index = app.next_index()
    fault = plan_fault(s, index, n)
    if fault is not None and fault.kind is FaultKind.HTTP_5XX:
        msg = f"injected fault: HTTP {s.fault_http_5xx_status}"
        resp.send(s.fault_http_5xx_status, error_body(s.fault_http_5xx_status, msg))
        return
    if fault is not None and fault.kind is FaultKind.SLOW_HEADERS:
        await asyncio.sleep(fault.duration)
        if resp.lost:
            return
    seq = Seq(spec.prompt_tokens, n, time.perf_counter())
    rid = f"{'chatcmpl' if spec.kind == 'chat' else 'cmpl'}-sim{s.seed:x}x{index:x}"
    tpl = StreamTemplate(
        spec.kind,
        rid,
        app.created,
        spec.model or s.model_name,
        reason,
        req.recv_ns,
        app.timestamps_for(req),
    )
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sink = _Sink(app, spec, seq, tpl, resp, fault, fut, reason, rid)
    seq.sink = sink

    def lost() -> None:
        app.abort(seq, "abort")
        sink._end()

    resp.on_lost = lost
    if spec.stream:
        resp.start_stream()
    app.driver.submit(seq)
    await fut
