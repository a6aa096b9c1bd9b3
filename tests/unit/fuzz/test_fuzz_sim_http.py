"""Fuzzing the simulator's HTTP server with malformed requests and bodies.

The simulator (servegate.sim: its HTTP/1.1 server and OpenAI endpoints) runs in a thread of
this process on a loopback port, with zero latency so that every answer is immediate. Every
request must get a 2xx, or a 4xx whose body is an OpenAI-style JSON error, never a 5xx (the
server's answer to a bug of its own); a request whose framing is broken may also get no
answer at all; the event loop never reports an unhandled exception; and after each example
the server still answers.
"""

from __future__ import annotations

import asyncio
import copy
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fuzz_budget import examples
from fuzz_trees import tree_paths
from hypothesis import given, settings
from hypothesis import strategies as st

from servegate.sim.app import SimApp
from servegate.sim.http import MAX_BODY, HttpServer
from servegate.sim.settings import SimSettings

MODEL = "fuzz-model"
WAIT_S = 30.0  # the most one answer may take (each is immediate): a hang guard, not a timing
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": 4,
        "stream": True,
        "stream_options": {"include_usage": True},
    },
    "/v1/completions": {"model": MODEL, "prompt": "hello there", "max_tokens": 4},
    "/v1/embeddings": {"model": MODEL, "input": ["hello", "there"], "encoding_format": "float"},
}
GETS = ["/v1/models", "/health", "/metrics"]


class SimThread:
    """The simulator's app and server on an event loop of their own, in a daemon thread."""

    def __init__(self) -> None:
        self.settings = SimSettings(
            host="127.0.0.1",
            port=0,
            model_name=MODEL,
            latency_model="distribution",
            ttft_mean_s=0.0,
            itl_mean_s=0.0,
            max_model_len=2048,
        )
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._unhandled)
        self.unhandled: list[str] = []
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-fuzz", daemon=True)
        self._thread.start()
        assert self._ready.wait(WAIT_S), "the simulator did not start"

    def _unhandled(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.unhandled.append(f"{context.get('message')}: {context.get('exception')!r}")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.app = SimApp(self.settings)
        self.driver = self.loop.create_task(self.app.driver.run())
        self.server = HttpServer(self.app.handle)
        self.port = await self.server.start("127.0.0.1", 0)

    async def _stop(self) -> None:
        await self.server.stop()
        self.driver.cancel()
        await asyncio.gather(self.driver, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(WAIT_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT_S)
        self.loop.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    s = SimThread()
    yield s
    s.stop()


def exchange(port: int, raw: bytes, *, half_close: bool = False) -> tuple[int, bytes] | None:
    """Send ``raw``; (status, body) of the answer, or None if the server closed without one.
    ``half_close``: end our side after sending (a request cut short is then final)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
        try:
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished (a rejected head): its answer may be there
        answer = http.client.HTTPResponse(sock, method="GET")
        try:
            answer.begin()
            body = answer.read()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        except http.client.IncompleteRead as exc:
            body = exc.partial  # a stream the server ended early (its client's choice)
        return answer.status, body


def check_answer(answer: tuple[int, bytes] | None, *, framed: bool) -> None:
    """A well-framed request gets an answer; any answer is < 500, with a JSON error if 4xx."""
    if answer is None:
        assert not framed, "a well-framed request got no answer"
        return
    status, body = answer
    assert status < 500, f"HTTP {status}: {body[:300]!r}"
    if status >= 400:
        err = orjson.loads(body)["error"]
        assert isinstance(err["message"], str) and err["message"], body[:300]
        assert err["code"] == status


def still_serving(sim: SimThread) -> None:
    assert exchange(sim.port, b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n") == (
        200,
        b"",
    )
    assert sim.unhandled == []


def request(
    method: str, path: str, body: bytes, headers: list[tuple[str, str]], chunked: bool
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: sim", "connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if chunked:
        lines.append("transfer-encoding: chunked")
        framed = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    else:
        lines.append(f"content-length: {len(body)}")
        framed = body
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + framed


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
EDGES = st.sampled_from(
    [
        None,
        True,
        0,
        -1,
        2**31,
        2**63,
        10**30,
        0.5,
        "",
        "x" * 5000,
        [],
        {},
        [[]],
        [{}],
        ["a"],
        [1, "a"],
    ]
)
KEYS = st.sampled_from(
    [
        "model",
        "messages",
        "prompt",
        "input",
        "max_tokens",
        "max_completion_tokens",
        "min_tokens",
        "stream",
        "stream_options",
        "seed",
        "n",
        "ignore_eos",
        "dimensions",
        "encoding_format",
        "role",
        "content",
        "include_usage",
        "continuous_usage_stats",
    ]
)


@st.composite
def mutated_body(draw: st.DrawFn, path: str) -> bytes:
    """The valid body of ``path`` after 1-3 edits of its JSON (a value set to an edge or to
    random JSON, a key removed or added), or random JSON, or random bytes."""
    kind = draw(st.sampled_from(["edit", "edit", "edit", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json" or path not in BODIES:
        return json.dumps(draw(JSON_VALUES)).encode()  # orjson refuses ints beyond 64 bits
    doc = copy.deepcopy(BODIES[path])
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(tree_paths(doc))[1:] or [("model",)]))
        parent: Any = doc
        for part in where[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["edge", "edge", "random", "delete", "add"]))
        if op == "edge":
            parent[where[-1]] = copy.deepcopy(draw(EDGES))
        elif op == "random":
            parent[where[-1]] = draw(JSON_VALUES)
        elif op == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(KEYS)] = copy.deepcopy(draw(EDGES | JSON_VALUES))
    return json.dumps(doc).encode()


ROUTES = [*BODIES, *GETS]
# Mostly the endpoints that read a body; sometimes a path that is no route at all.
ODD_PATHS = ["/", "//v1/models", "/v1/chat/completions?x=1", "/v1/models/../health", "/%00"]
PATHS = st.sampled_from(
    [*BODIES] * 6 + GETS + ODD_PATHS + ["/v1/\u00e9".encode().decode("latin-1")]
)
HEADERS = st.lists(
    st.sampled_from(
        [
            ("content-type", "application/json"),
            ("content-type", "text/plain"),
            ("content-type", "application/json; charset=latin-1"),
            ("x-servegate-timestamps", "1"),
            ("x-servegate-timestamps", "\u00ff"),
            ("accept-encoding", "gzip"),
            ("expect", "100-continue"),
            ("x-long", "v" * 70_000),
            ("upgrade", "websocket"),
        ]
    ),
    max_size=3,
)


@pytest.mark.parametrize("path", ROUTES)
def test_each_valid_request_is_answered_2xx(sim: SimThread, path: str) -> None:
    body = orjson.dumps(BODIES[path]) if path in BODIES else b""
    answer = exchange(sim.port, request("POST" if body else "GET", path, body, [], False))
    assert answer is not None and answer[0] == 200, answer
    still_serving(sim)


@settings(max_examples=examples(400))
@given(data=st.data(), path=PATHS, chunked=st.booleans(), headers=HEADERS)
def test_a_malformed_body_gets_a_4xx_json_error_and_the_server_keeps_serving(
    sim: SimThread, data: st.DataObject, path: str, chunked: bool, headers: list[tuple[str, str]]
) -> None:
    own = "POST" if path in BODIES else "GET"
    method = data.draw(st.sampled_from([own] * 6 + ["GET", "POST", "PUT", "DELETE", "HEAD"]))
    body = data.draw(mutated_body(path), label="body")
    framed = not any(k in ("expect", "upgrade") for k, _ in headers)
    check_answer(exchange(sim.port, request(method, path, body, headers, chunked)), framed=framed)
    still_serving(sim)


@st.composite
def broken_request(draw: st.DrawFn) -> bytes:
    """A valid request after 1-3 byte edits: a cut, an insertion, a deletion."""
    path = draw(st.sampled_from(ROUTES))
    body = orjson.dumps(BODIES[path]) if path in BODIES else b""
    raw = request("POST" if body else "GET", path, body, [], draw(st.booleans()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["cut", "insert", "delete"]))
        if op == "cut":
            raw = raw[:at]
        elif op == "insert":
            junk = st.sampled_from([b"\r\n", b"\n", b" ", b":", b"\x00", b"\xff", b"0\r\n\r\n"])
            raw = raw[:at] + draw(junk | st.binary(min_size=1, max_size=4)) + raw[at:]
        else:
            raw = raw[:at] + raw[at + draw(st.integers(1, 10)) :]
    return raw


@settings(max_examples=examples(400))
@given(raw=broken_request() | st.binary(max_size=300))
def test_a_malformed_request_gets_a_4xx_or_nothing_and_the_server_keeps_serving(
    sim: SimThread, raw: bytes
) -> None:
    check_answer(exchange(sim.port, raw, half_close=True), framed=False)
    still_serving(sim)


def test_a_body_over_the_limit_is_refused_with_a_json_error(sim: SimThread) -> None:
    body = b'{"model": "' + b"m" * MAX_BODY + b'"}'
    answer = exchange(sim.port, request("POST", "/v1/completions", body, [], False))
    check_answer(answer, framed=True)
    assert answer is not None and answer[0] == 413
    assert f"larger than {MAX_BODY} bytes" in json.loads(answer[1])["error"]["message"]
    still_serving(sim)
