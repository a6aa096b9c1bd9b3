"""Fuzzing the load engine's HTTP client over malformed, oversized, truncated and slow answers.

servegate.load.worker.send runs in a child process (it needs gevent, which the pytest
process must not import) against a loopback server that sends the bytes each example gives
it (load_client_child.py). Every request must end as a record: a success for the well-formed
answers, a classified failure otherwise, never an exception out of ``send``, never the
``client`` kind that stands for a bug of the load generator itself.
"""

from __future__ import annotations

import base64
import json
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz_budget import examples
from fuzz_streams import GOOD_BODY, GOOD_STREAM, PIECES
from hypothesis import given, settings
from hypothesis import strategies as st

CHILD = Path(__file__).with_name("load_client_child.py")
ANSWER_S = 60.0  # the most one case may take before the child counts as hung
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"


def chunked(body: bytes, size: int = 16) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


# The well-formed answers each fuzz example starts from: (stream?, raw response).
GOOD = {
    "stream, chunked": (
        True,
        SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunked(GOOD_STREAM),
    ),
    "stream, length": (
        True,
        SSE_HEAD + b"content-length: %d\r\n\r\n" % len(GOOD_STREAM) + GOOD_STREAM,
    ),
    "stream, close": (True, SSE_HEAD + b"connection: close\r\n\r\n" + GOOD_STREAM),
    "body": (False, JSON_HEAD + b"content-length: %d\r\n\r\n" % len(GOOD_BODY) + GOOD_BODY),
}


class Child:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.cases = 0

    def send(self, raw: bytes, stream: bool, **case: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        doc = {"raw": base64.b64encode(raw).decode(), "api": "chat", "stream": stream, **case}
        self.proc.stdin.write(json.dumps(doc) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], ANSWER_S)
        assert ready, f"the client did not finish a request within {ANSWER_S:g} s"
        line = self.proc.stdout.readline()
        assert line, f"the child died: {self.proc.stderr.read() if self.proc.stderr else ''}"
        self.cases += 1
        outcome: dict[str, Any] = json.loads(line)
        return outcome

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture(scope="module")
def child() -> Iterator[Child]:
    c = Child()
    yield c
    c.close()


def classified(outcome: dict[str, Any]) -> str:
    """The error kind of an outcome that is allowed for a malformed answer."""
    assert "escaped" not in outcome, outcome.get("escaped")
    assert outcome["written"], "the record could not be written"
    assert outcome["error"] != "client", f"the load generator failed: {outcome['detail']}"
    if outcome["error"] is not None:
        assert outcome["detail"], "a failure without a detail"
    return str(outcome["error"])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bool, bytes]:
    """A well-formed answer after 1-3 edits: cut, byte edits, a header or status changed,
    the body swapped for SSE pieces, or an oversized header or line."""
    stream, raw = GOOD[draw(st.sampled_from(sorted(GOOD)))]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(["cut", "insert", "delete", "flip", "status", "header", "body", "big"])
        )
        head, _, body = raw.partition(b"\r\n\r\n")
        at = draw(st.integers(0, len(raw)))
        if op == "cut":  # nothing at all is a case of its own (the stall test)
            raw = raw[: max(at, 1)]
        elif op == "insert":
            raw = raw[:at] + draw(PIECES | st.binary(min_size=1, max_size=4)) + raw[at:]
        elif op == "delete":
            raw = raw[:at] + raw[at + draw(st.integers(1, 8)) :]
        elif op == "flip" and raw:
            at = min(at, len(raw) - 1)
            raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
        elif op == "status":
            code = draw(
                st.sampled_from([b"100", b"204", b"301", b"404", b"429", b"500", b"999", b"abc"])
            )
            raw = head.replace(b" 200 OK", b" " + code + b" X", 1) + b"\r\n\r\n" + body
        elif op == "header":
            extra = draw(
                st.sampled_from(
                    [
                        b"content-length: 999999",
                        b"content-length: 1",
                        b"content-length: -1",
                        b"content-length: x",
                        b"transfer-encoding: chunked",
                        b"transfer-encoding: gzip",
                        b"content-encoding: gzip",
                        b"connection: close",
                        b"x-no-colon",
                    ]
                )
            )
            raw = head + b"\r\n" + extra + b"\r\n\r\n" + body
        elif op == "body":
            pieces = draw(st.lists(PIECES, min_size=1, max_size=12))
            raw = head + b"\r\n\r\n" + b"".join(pieces)
        elif op == "big":
            big = draw(
                st.sampled_from([b"x-big: " + b"a" * 200_000 + b"\r\n", b"data: " + b"b" * 300_000])
            )
            raw = (
                head + b"\r\n" + big + b"\r\n\r\n" + body
                if big.startswith(b"x-")
                else head + b"\r\n\r\n" + big
            )
    return stream, raw


@pytest.mark.parametrize("name", sorted(GOOD))
def test_each_well_formed_answer_is_a_success(child: Child, name: str) -> None:
    stream, raw = GOOD[name]
    outcome = child.send(raw, stream)
    assert classified(outcome) == "None" and outcome["status"] == 200


@settings(max_examples=examples(300))
@given(case=mutated())
def test_a_malformed_answer_is_a_classified_failure_never_an_exception(
    child: Child, case: tuple[bool, bytes]
) -> None:
    stream, raw = case
    classified(child.send(raw, stream))


@settings(max_examples=examples(80))
@given(raw=st.binary(max_size=300), stream=st.booleans())
def test_random_bytes_for_an_answer_are_a_classified_failure(
    child: Child, raw: bytes, stream: bool
) -> None:
    assert classified(child.send(raw, stream)) != "None"


def test_a_slow_stream_within_the_timeout_is_a_success(child: Child) -> None:
    _, raw = GOOD["stream, chunked"]
    outcome = child.send(raw, True, piece=20, delay_ms=5, timeout=60)
    assert classified(outcome) == "None"


@pytest.mark.parametrize(
    "raw",
    [b"", GOOD["stream, chunked"][1][:120]],
    ids=["no status line", "stalled mid-stream"],
)
def test_an_answer_that_stalls_past_the_timeout_is_a_timeout(child: Child, raw: bytes) -> None:
    # The server sends nothing more and keeps the connection: only the client's clock ends it.
    outcome = child.send(raw, True, hold=True, timeout=0.5)
    assert classified(outcome) == "timeout"


@pytest.mark.parametrize("stream", [True, False])
def test_an_oversized_answer_is_read_or_refused_never_an_exception(
    child: Child, stream: bool
) -> None:
    line = b"data: " + b"z" * (5 * 1024 * 1024) + b"\n\n"
    raw = SSE_HEAD + b"connection: close\r\n\r\n" + line + b"data: [DONE]\n\n"
    assert classified(child.send(raw, stream)) in ("bad_sse", "not_json")
