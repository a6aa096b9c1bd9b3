"""Child process of test_fuzz_load_client: the load engine's HTTP client against given bytes.

The client (servegate.load.worker.send) runs on gevent, which the pytest process must not
import, so it runs here. A loopback server in an OS thread answers each connection with the
bytes of the current case, in pieces of ``piece`` bytes ``delay_ms`` apart, then closes the
connection, or holds it open (``hold``) until the client gives up. Cases arrive one JSON
object per stdin line; each outcome leaves as one JSON line on stdout.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from typing import Any

import orjson

from servegate.config.profile import Profile
from servegate.load.prompts import Prompt
from servegate.load.worker import Transport, send


class RawServer:
    """Answers every connection with the current case's bytes, whatever was asked."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.case: dict[str, Any] = {}
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._answer, args=(conn, dict(self.case)), daemon=True).start()

    @staticmethod
    def _read_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            more = conn.recv(65536)
            if not more:
                return
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            more = conn.recv(65536)
            if not more:
                return
            body += more

    def _answer(self, conn: socket.socket, case: dict[str, Any]) -> None:
        with conn, contextlib.suppress(OSError):
            self._read_request(conn)
            raw = base64.b64decode(case["raw"])
            piece = max(1, int(case.get("piece", len(raw) or 1)))
            for at in range(0, len(raw), piece):
                conn.sendall(raw[at : at + piece])
                if case.get("delay_ms"):
                    time.sleep(case["delay_ms"] / 1000)
            if case.get("hold"):
                conn.settimeout(60)
                while conn.recv(65536):  # until the client hangs up
                    pass


def _profile(api: str, stream: bool, timeout: float) -> Profile:
    return Profile.model_validate(
        {
            "kind": "Profile",
            "name": "fuzz",
            "api": api,
            "stream": stream,
            "model": "m",
            "load": {"type": "closed"},
            "shape": {"type": "steady", "level": 1, "duration": 1},
            "prompt": {"mean": 4},
            "output": {"mean": 4},
            "timeout": timeout,
        }
    )


def run_case(server: RawServer, case: dict[str, Any]) -> dict[str, Any]:
    server.case = case
    profile = _profile(case["api"], case["stream"], case.get("timeout", 10.0))
    transport = Transport(f"http://127.0.0.1:{server.port}", 1, profile.timeout)
    prompt = Prompt(text="a b c d", tokens=4, max_tokens=4, group=None)
    try:
        rec = send(transport, profile, case["api"], prompt, "fuzz")
    except BaseException:  # what the test looks for: anything escaping send()
        return {"escaped": traceback.format_exc()}
    finally:
        transport.close()
    try:
        orjson.dumps(rec.to_json())
        written = True
    except (TypeError, orjson.JSONEncodeError):
        written = False
    error = None if rec.error is None else rec.error.value
    return {"error": error, "detail": rec.error_detail, "status": rec.status, "written": written}


def main() -> None:
    server = RawServer()
    for line in sys.stdin:
        outcome = run_case(server, json.loads(line))
        sys.stdout.write(json.dumps(outcome) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
