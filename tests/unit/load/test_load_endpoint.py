"""The pre-flight check: any HTTP answer is reachable; a refused port is one clear line."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from servegate.errors import UserError
from servegate.load.endpoint import check_reachable


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    srv = HTTPServer(("127.0.0.1", 0), _NotFound)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/prefix"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join()


def test_any_http_answer_counts(server_url: str) -> None:
    assert check_reachable(server_url, 2.0) == 404


def test_refused_port_is_a_one_line_user_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(UserError) as exc:
            check_reachable(f"http://127.0.0.1:{port}", 2.0)
    msg = str(exc.value)
    assert "cannot reach" in msg and str(port) in msg and "\n" not in msg


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://x", "http://", "http://h:notaport"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(UserError, match="--url"):
        check_reachable(url)
