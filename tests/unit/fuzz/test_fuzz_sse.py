"""Fuzzing the load engine's stream interpretation (servegate.load.sse and .openai).

Any bytes, split anywhere, go through the SSE parser and the OpenAI stream state into a
request record. Nothing may raise; the events must not depend on where the reads split the
bytes; and the record ends either as a success that saw ``[DONE]`` and content, or as a
classified failure, and is written out like every other record.
"""

from __future__ import annotations

import itertools

import orjson
from fuzz_budget import examples
from fuzz_streams import GOOD_STREAM, PIECES
from hypothesis import example, given, settings
from hypothesis import strategies as st

from servegate.load import sse as sse_mod
from servegate.load.openai import StreamState, apply_body
from servegate.load.sse import SSEParser
from servegate.metrics.record import ErrorKind, RequestRecord

STREAMS = st.one_of(
    st.binary(max_size=300),
    st.lists(PIECES | st.binary(max_size=8), max_size=30).map(b"".join),
    st.tuples(st.just(GOOD_STREAM), st.integers(0, len(GOOD_STREAM))).map(lambda t: t[0][: t[1]]),
)


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted(c % (len(data) + 1) for c in cuts)  # repeated: empty reads too
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _parse(pieces: list[bytes]) -> tuple[list[str], str | None]:
    parser = SSEParser()
    events = [ev for piece in pieces for ev in parser.feed(piece)]
    return [*events, *parser.close()], parser.bad_line


def _record(api: str, stream: bool) -> RequestRecord:
    return RequestRecord(request_id="r", api=api, stream=stream, sent_ns=0, end_ns=1)


@settings(max_examples=examples(800))
@given(data=STREAMS, cuts=st.lists(st.integers(0, 400), max_size=12))
@example(data=b"data: a\r\ndata: b\n\n", cuts=[8, 8])  # found: an empty read after \r
def test_events_do_not_depend_on_where_reads_split_the_stream(data: bytes, cuts: list[int]) -> None:
    assert _parse(_splits(data, cuts)) == _parse([data])


@settings(max_examples=examples(800))
@given(
    data=STREAMS,
    cuts=st.lists(st.integers(0, 400), max_size=6),
    api=st.sampled_from(["chat", "completions"]),
)
def test_any_stream_ends_as_a_success_or_a_classified_failure(
    data: bytes, cuts: list[int], api: str
) -> None:
    events, bad_line = _parse(_splits(data, cuts))
    state = StreamState(api)
    for offset, event in enumerate(events):
        state.on_event(event, offset)
    state.finish(bad_line)
    rec = _record(api, True)
    state.apply(rec)
    if rec.error is None:
        assert state.done and rec.chunks, "a success without [DONE] or content"
    else:
        assert isinstance(rec.error, ErrorKind) and rec.error is not ErrorKind.CLIENT
        assert rec.error_detail
    orjson.dumps(rec.to_json())  # it can be written as every record is


@settings(max_examples=examples(500))
@given(
    body=st.binary(max_size=200) | PIECES | st.sampled_from([b'{"data": [{"embedding": 1}]}']),
    api=st.sampled_from(["chat", "completions", "embeddings"]),
)
def test_any_body_ends_as_a_success_or_a_classified_failure(body: bytes, api: str) -> None:
    rec = _record(api, False)
    apply_body(api, body, 5, rec)
    assert rec.error is None or (rec.error is not ErrorKind.CLIENT and rec.error_detail)
    if rec.error is None:
        assert rec.chunks
    orjson.dumps(rec.to_json())


def test_the_good_stream_is_a_success_whatever_the_splits() -> None:
    for size in (1, 2, 3, 7, len(GOOD_STREAM)):
        pieces = [GOOD_STREAM[i : i + size] for i in range(0, len(GOOD_STREAM), size)]
        events, bad_line = _parse(pieces)
        state = StreamState("chat")
        for event in events:
            state.on_event(event, 0)
        state.finish(bad_line)
        assert state.error is None and len(state.chunks) == 2 and state.completion_tokens == 2


def test_an_oversized_line_is_a_bad_stream_and_its_bytes_are_dropped() -> None:
    parser = SSEParser()
    piece = b"x" * (1024 * 1024)
    for _ in range(sse_mod.MAX_LINE_BYTES // len(piece) + 1):
        assert parser.feed(piece) == []
    assert parser.bad_line is not None and "longer than" in parser.bad_line
    assert len(parser._buf) <= sse_mod.MAX_LINE_BYTES  # memory stays bounded
