"""The simulator's model-version label: what rollout and canary checks read per response."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from servegate.errors import ConfigError
from servegate.sim.app import SimApp
from servegate.sim.http import Request, Responder
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


def _call(app: SimApp, method: str, path: str) -> tuple[bytes, bytes]:
    conn = FakeConn()
    resp = Responder(conn, Request(method, path, {}, b"", True))  # type: ignore[arg-type]
    asyncio.run(app.handle(Request(method, path, {}, b"", True), resp))
    head, _, body = bytes(conn.out).partition(b"\r\n\r\n")
    return head, body


def test_version_in_header_of_every_response_and_in_models() -> None:
    app = SimApp(SimSettings(model_version="v2.1"))
    head, body = _call(app, "GET", "/v1/models")
    assert b"x-servegate-model-version: v2.1" in head.split(b"\r\n")
    card = orjson.loads(body)["data"][0]
    assert card["servegate_model_version"] == "v2.1"
    # errors carry it too: a failed request still tells which version refused it
    head, _ = _call(app, "GET", "/nowhere")
    assert head.startswith(b"HTTP/1.1 404") and b"x-servegate-model-version: v2.1" in head


def test_no_version_no_header() -> None:
    app = SimApp(SimSettings())
    head, body = _call(app, "GET", "/v1/models")
    assert b"x-servegate-model-version" not in head
    assert "servegate_model_version" not in orjson.loads(body)["data"][0]


def test_version_from_environment_and_bad_value_is_one_line() -> None:
    s = load_settings(environ={"SERVEGATE_SIM_MODEL_VERSION": "canary-2"})
    assert s.model_version == "canary-2"
    # a value that would break the header line is refused, naming the variable
    with pytest.raises(ConfigError, match="SERVEGATE_SIM_MODEL_VERSION: model_version"):
        load_settings(environ={"SERVEGATE_SIM_MODEL_VERSION": "v1\r\nx-evil: 1"})
