"""servegate.k8s.prometheus against a fake Prometheus HTTP API on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from servegate.k8s.prometheus import Prometheus, PrometheusError

ANSWERS: dict[str, tuple[int, bytes]] = {}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(self.path).query).get("query", [""])[0]
        status, body = ANSWERS.get(query, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def prom() -> Iterator[Prometheus]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Prometheus(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=2.0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _vector(*rows: tuple[dict[str, str], str]) -> bytes:
    result = [{"metric": m, "value": [1700000000.0, v]} for m, v in rows]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


def test_vector_scalar_and_by_label(prom: Prometheus) -> None:
    ANSWERS["q1"] = (
        200,
        _vector(({"pod": "a"}, "2"), ({"pod": "b"}, "NaN"), ({"pod": "c"}, "3.5")),
    )
    assert prom.query("q1") == [({"pod": "a"}, 2.0), ({"pod": "c"}, 3.5)]  # NaN dropped
    assert prom.scalar("q1") == 2.0
    assert prom.by_label("q1", "pod") == {"a": 2.0, "c": 3.5}


def test_empty_result_is_none(prom: Prometheus) -> None:
    ANSWERS["empty"] = (200, _vector())
    assert prom.scalar("empty") is None
    assert prom.query("empty") == []


@pytest.mark.parametrize(
    "answer",
    [
        (400, b'{"status":"error","errorType":"bad_data","error":"parse error"}'),
        (200, b"<html>not json</html>"),
        (200, b'{"status":"success","data":{"result":[{"metric":{}}]}}'),
        (500, b"internal"),
    ],
    ids=["error-answer", "not-json", "malformed-sample", "5xx"],
)
def test_bad_answers_are_one_line_errors(prom: Prometheus, answer: tuple[int, bytes]) -> None:
    ANSWERS["bad"] = answer
    with pytest.raises(PrometheusError, match="query 'bad' failed") as exc:
        prom.query("bad")
    assert "\n" not in str(exc.value)


def test_unreachable_is_one_line() -> None:
    with pytest.raises(PrometheusError, match="failed") as exc:
        Prometheus("http://127.0.0.1:9", timeout_s=1.0).query("up")
    assert "\n" not in str(exc.value)
