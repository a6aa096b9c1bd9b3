"""The simulator's API key (vLLM's --api-key): /v1/* needs the exact bearer token."""

from __future__ import annotations

import asyncio

from servegate.sim.app import SimApp
from servegate.sim.http import Request, Responder
from servegate.sim.process import SimProcess
from servegate.sim.settings import SimSettings, load_settings


class FakeConn:
    def __init__(self) -> None:
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.out += data

    def response_done(self, r: Responder) -> None:
        pass

    def close(self) -> None:
        pass


def _status(app: SimApp, path: str, headers: dict[str, str]) -> int:
    conn = FakeConn()
    req = Request("GET", path, headers, b"", True)
    asyncio.run(app.handle(req, Responder(conn, req)))  # type: ignore[arg-type]
    return int(bytes(conn.out).split(b" ", 2)[1])


def test_v1_routes_need_the_exact_bearer_token() -> None:
    app = SimApp(SimSettings(api_key="k3y-sg"))
    assert _status(app, "/v1/models", {"authorization": "Bearer k3y-sg"}) == 200
    assert _status(app, "/v1/models", {}) == 401
    assert _status(app, "/v1/models", {"authorization": "Bearer k3y-sg2"}) == 401
    assert _status(app, "/v1/models", {"authorization": "k3y-sg"}) == 401
    # probes and scrapes stay open, as in vLLM
    assert _status(app, "/health", {}) == 200


def test_no_key_no_check() -> None:
    assert _status(SimApp(SimSettings()), "/v1/models", {}) == 200


def test_key_from_the_environment_and_kept_off_the_command_line() -> None:
    assert load_settings(environ={"SERVEGATE_SIM_API_KEY": "abc"}).api_key == "abc"
    argv = SimProcess(api_key="sg-never-on-argv")._argv()
    assert not [a for a in argv if "sg-never-on-argv" in a or "api-key" in a]
