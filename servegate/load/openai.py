"""OpenAI-compatible request bodies and response interpretation, without I/O.

The worker's HTTP code only moves bytes and reads the clock; everything that decides what a
byte means lives here so it can be unit-tested: which SSE events carry content, how many
tokens a chunk carried, when a stream counts as truncated, how a body is classified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from servegate.config.profile import Api
from servegate.metrics.record import ErrorKind, RequestRecord


def build_body(
    api: Api,
    model: str,
    prompt: str,
    max_tokens: int,
    stream: bool,
    ignore_eos: bool,
    min_tokens: bool,
    history: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """``history``: earlier messages of a conversation (chat), sent before the prompt."""
    if api == "embeddings":
        return {"model": model, "input": prompt}
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "stream": stream}
    if api == "chat":
        body["messages"] = [*(history or ()), {"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if stream:
        # usage in the last chunk: the server's token counts are authoritative
        body["stream_options"] = {"include_usage": True}
    if ignore_eos:
        body["ignore_eos"] = True
    if min_tokens:
        body["min_tokens"] = max_tokens
    return body


def _content_of(api: str, choice: dict[str, Any], streamed: bool) -> str | None:
    """Content carried by one choice (text, reasoning or tool call), or None if none."""
    if api == "completions":
        text = choice.get("text")
        return text if isinstance(text, str) and text else None
    part = choice.get("delta" if streamed else "message")
    if not isinstance(part, dict):
        return None
    for key in ("content", "reasoning_content", "reasoning"):
        val = part.get(key)
        if isinstance(val, str) and val:
            return val
    if part.get("tool_calls"):
        return orjson.dumps(part["tool_calls"]).decode()
    return None


def _two_ints(doc: dict[str, Any], key: str, a: str, b: str) -> tuple[int | None, int | None]:
    """``doc[key][a]`` and ``doc[key][b]``, each None where missing or not an integer."""
    part = doc.get(key)
    if not isinstance(part, dict):
        return None, None
    x, y = part.get(a), part.get(b)
    return (x if isinstance(x, int) else None, y if isinstance(y, int) else None)


def _usage(doc: dict[str, Any]) -> tuple[int | None, int | None]:
    return _two_ints(doc, "usage", "prompt_tokens", "completion_tokens")


def _server_ts(doc: dict[str, Any]) -> tuple[int | None, int | None]:
    return _two_ints(doc, "servegate", "recv_ns", "emit_ns")


def _engine_timings(doc: dict[str, Any]) -> dict[str, float] | None:
    """llama.cpp's per-request ``timings`` object (numbers only), if the response has one."""
    part = doc.get("timings")
    if not isinstance(part, dict):
        return None
    return {
        k: float(v)
        for k, v in part.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


@dataclass
class StreamState:
    """Folds the data of each SSE event of one streamed response into a record."""

    api: str
    chunks: list[tuple[int, int]] = field(default_factory=list)
    done: bool = False
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    client_tokens: int = 0
    error: ErrorKind | None = None
    detail: str = ""
    server_recv_ns: int | None = None  # raw server perf_counter_ns
    server_chunk_ns: list[int] = field(default_factory=list)
    texts: list[str] | None = None  # when a list, the content of each chunk is kept here
    engine_timings: dict[str, float] | None = None  # the engine's own (llama.cpp's timings)
    _usage_running: int | None = None  # continuous usage: completion tokens seen so far

    def on_event(self, data: str, offset_ns: int) -> None:
        if self.error is not None:
            return
        if data.strip() == "[DONE]":
            self.done = True
            return
        if self.done:
            self._fail(ErrorKind.BAD_SSE, "event after [DONE]")
            return
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._fail(ErrorKind.NOT_JSON, f"SSE data is not JSON: {data[:80]!r}")
            return
        if not isinstance(doc, dict):
            self._fail(ErrorKind.NOT_JSON, f"SSE data is not a JSON object: {data[:80]!r}")
            return
        if "error" in doc:
            self._fail(ErrorKind.HTTP_5XX, f"error event in stream: {str(doc['error'])[:120]}")
            return
        choices = doc.get("choices")
        if choices is None and "usage" not in doc:
            self._fail(ErrorKind.NOT_JSON, "chunk has neither choices nor usage")
            return
        p, c = _usage(doc)
        # llama.cpp sends timings in every chunk, final in the last; the key test first: a
        # call per chunk was 3 % of the worker's SSE parsing for servers without them
        if "timings" in doc:
            timings = _engine_timings(doc)
            if timings is not None:
                self.engine_timings = timings
        if p is not None:
            self.prompt_tokens = p
        tokens_from_usage: int | None = None
        if c is not None:
            # with continuous usage stats every chunk carries the running total
            if self._usage_running is not None and c >= self._usage_running:
                tokens_from_usage = c - self._usage_running
            elif self._usage_running is None:
                tokens_from_usage = c
            self._usage_running = c
            self.completion_tokens = c
        content = False
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            text = _content_of(self.api, choice, streamed=True)
            if text is not None:
                content = True
                if self.texts is not None:
                    self.texts.append(text)
            fr = choice.get("finish_reason")
            if isinstance(fr, str):
                self.finish_reason = fr
        if content:
            n = tokens_from_usage if tokens_from_usage else 1
            self.chunks.append((offset_ns, n))
            self.client_tokens += 1
            recv, emit = _server_ts(doc)
            if recv is not None:
                self.server_recv_ns = recv
            if emit is not None:
                self.server_chunk_ns.append(emit)

    def _fail(self, kind: ErrorKind, detail: str) -> None:
        self.error, self.detail = kind, detail

    def finish(self, bad_line: str | None) -> None:
        """End of body: decide truncation / emptiness once nothing more will arrive."""
        if self.error is not None:
            return
        if bad_line is not None and not self.done:
            self._fail(ErrorKind.BAD_SSE, f"not an event stream line: {bad_line!r}")
        elif bad_line is not None:
            self._fail(ErrorKind.BAD_SSE, f"stray line in event stream: {bad_line!r}")
        elif not self.done:
            self._fail(ErrorKind.TRUNCATED, "stream ended without [DONE]")
        elif not self.chunks:
            self._fail(ErrorKind.EMPTY, "stream carried no content")

    def apply(self, rec: RequestRecord) -> None:
        rec.chunks = self.chunks
        rec.prompt_tokens = self.prompt_tokens
        rec.completion_tokens = self.completion_tokens
        rec.client_tokens = self.client_tokens
        rec.error = self.error
        rec.error_detail = self.detail
        if self.server_recv_ns is not None:
            rec.server_recv_ns = self.server_recv_ns
        if self.server_chunk_ns:
            rec.server_chunk_ns = self.server_chunk_ns
            rec.server_first_ns = self.server_chunk_ns[0]
        rec.engine_timings = self.engine_timings


def classify_status(status: int) -> ErrorKind | None:
    if 200 <= status < 300:
        return None
    if 400 <= status < 500:
        return ErrorKind.HTTP_4XX
    if status >= 500:
        return ErrorKind.HTTP_5XX
    return ErrorKind.NOT_JSON  # 1xx/3xx final answers are not an OpenAI response


def body_snippet(body: bytes) -> str:
    text = body[:160].decode("utf-8", errors="replace").replace("\n", " ").strip()
    return text or "(empty body)"


def apply_body(
    api: str, body: bytes, offset_ns: int, rec: RequestRecord, keep: list[str] | None = None
) -> None:
    """Interpret a complete non-streamed 2xx body into ``rec`` (its content into ``keep``)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        rec.error, rec.error_detail = ErrorKind.NOT_JSON, f"body: {body_snippet(body)}"
        return
    if not isinstance(doc, dict):
        rec.error, rec.error_detail = ErrorKind.NOT_JSON, "body is not a JSON object"
        return
    if "error" in doc:
        rec.error, rec.error_detail = ErrorKind.HTTP_5XX, f"error body: {str(doc['error'])[:120]}"
        return
    rec.prompt_tokens, rec.completion_tokens = _usage(doc)
    rec.engine_timings = _engine_timings(doc)
    recv, emit = _server_ts(doc)
    rec.server_recv_ns = recv
    if emit is not None:
        rec.server_first_ns = emit
        rec.server_chunk_ns = [emit]
    if api == "embeddings":
        data = doc.get("data")
        if not (isinstance(data, list) and data and isinstance(data[0], dict)):
            rec.error, rec.error_detail = ErrorKind.EMPTY, "no embedding in body"
            return
        if not isinstance(data[0].get("embedding"), list | str):
            rec.error, rec.error_detail = ErrorKind.NOT_JSON, "embedding is not a vector"
            return
        rec.chunks = [(offset_ns, 0)]
        return
    choices = doc.get("choices")
    if not isinstance(choices, list):
        rec.error, rec.error_detail = ErrorKind.NOT_JSON, "body has no choices"
        return
    texts = [
        t
        for ch in choices
        if isinstance(ch, dict) and (t := _content_of(api, ch, False)) is not None
    ]
    if not texts:
        rec.error, rec.error_detail = ErrorKind.EMPTY, "response carried no content"
        return
    rec.client_tokens = sum(_estimate_tokens(t) for t in texts)
    rec.chunks = [(offset_ns, rec.completion_tokens or rec.client_tokens)]
    if keep is not None:
        keep.extend(texts)


def _estimate_tokens(text: str) -> int:
    """Whitespace words: a rough client count, only used to flag disagreement with usage."""
    return max(1, len(text.split()))
