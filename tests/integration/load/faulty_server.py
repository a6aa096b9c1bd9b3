"""A tiny misbehaving OpenAI-compatible server for the load engine's error handling tests.

Run as ``python faulty_server.py``; prints ``LISTENING <port>`` once bound to 127.0.0.1.
Answers POSTs in a fixed rotation: a good stream, a 500, an HTML page with status 200, a
stream cut before [DONE], a stream with a non-JSON event, a JSON body where a stream was
asked for, a body cut short by a dropped connection, a stall past the timeout, a hang-up before
any status line. Single-file and stdlib-only so it starts in a blink.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("good", "http500", "html", "truncated", "garbage", "json_body", "cut", "stall", "reset")
_counter = itertools.count()
_lock = threading.Lock()


def _chunk(content: str) -> bytes:
    doc = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._send(200, b'{"data": []}', "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _lock:
            mode = MODES[next(_counter) % len(MODES)]
        if mode == "stall":  # far longer than the test profile's timeout, however busy the host
            time.sleep(30.0)
            self._send(200, b'{"choices": []}', "application/json")
        elif mode == "reset":  # hang up without a status line
            self.close_connection = True
        elif mode == "http500":
            self._send(500, b'{"error": {"message": "boom"}}', "application/json")
        elif mode == "html":
            self._send(200, b"<html><body>upstream error</body></html>", "text/html")
        elif mode == "json_body":
            self._send(200, b'{"choices": []}', "application/json")
        else:
            body = _chunk("Hello") + _chunk(" world")
            if mode == "good":
                usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
                body += b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
            elif mode == "garbage":
                body += b"data: {this is not json\n\ndata: [DONE]\n\n"
            # truncated: stop after the content chunks and close the connection
            # cut: promise more bytes than are sent, then drop the connection
            self._send(
                200,
                body,
                "text/event-stream",
                close=mode in ("truncated", "cut"),
                claim=len(body) + 100 if mode == "cut" else None,
            )

    def _send(
        self, status: int, body: bytes, ctype: str, close: bool = False, claim: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(claim if claim is not None else len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if close:
            self.close_connection = True


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"LISTENING {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
