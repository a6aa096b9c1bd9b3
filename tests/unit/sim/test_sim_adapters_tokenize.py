"""The simulator serves LoRA adapters beside its model and counts tokens on POST /tokenize."""

from __future__ import annotations

import asyncio

import orjson

from servegate.sim.app import SimApp
from servegate.sim.http import Request, Responder
from servegate.sim.settings import SimSettings


class FakeConn:
    def __init__(self) -> None:
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.out += data

    def response_done(self, r: Responder) -> None:
        pass

    def close(self) -> None:
        pass


def _call(app: SimApp, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    raw = b"" if body is None else orjson.dumps(body)
    req = Request(method, path, {}, raw, True)
    conn = FakeConn()
    resp = Responder(conn, req)  # type: ignore[arg-type]
    asyncio.run(app.handle(req, resp))
    head, _, data = bytes(conn.out).partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), data


def test_models_lists_adapters_with_their_base_as_parent() -> None:
    app = SimApp(SimSettings(model_name="base", lora_modules="sql-lora=/lora/sql,chat-lora"))
    status, body = _call(app, "GET", "/v1/models")
    cards = {c["id"]: c for c in orjson.loads(body)["data"]}
    assert status == 200 and set(cards) == {"base", "sql-lora", "chat-lora"}
    assert cards["sql-lora"]["parent"] == "base" and cards["sql-lora"]["root"] == "/lora/sql"
    assert cards["base"]["parent"] is None


def test_an_adapter_passes_the_model_check_an_unknown_model_is_404() -> None:
    # (generation itself needs the running driver: tests/integration/load covers it)
    from servegate.sim.endpoints.chat import ChatRequest

    app = SimApp(SimSettings(model_name="base", lora_modules="sql-lora"))
    msgs = [{"role": "user", "content": "hi"}]
    ChatRequest.model_validate({"model": "sql-lora", "messages": msgs}).check(app)
    status, data = _call(app, "POST", "/v1/chat/completions", {"model": "other", "messages": msgs})
    assert status == 404 and b"`other` does not exist" in data


def test_tokenize_counts_as_the_simulator_counts_prompts() -> None:
    app = SimApp(SimSettings())
    # "Hello, world!" is 4 tokens under the simulator's rule (docs/sim.md)
    status, data = _call(
        app, "POST", "/tokenize", {"model": "sim-model", "prompt": "Hello, world!"}
    )
    doc = orjson.loads(data)
    assert status == 200 and doc["count"] == 4 and len(doc["tokens"]) == 4
    # chat framing: 4 tokens per message, as in chat requests
    msgs = [{"role": "user", "content": "a b"}, {"role": "assistant", "content": "c"}]
    _, data = _call(app, "POST", "/tokenize", {"messages": msgs})
    assert orjson.loads(data)["count"] == 2 + 1 + 2 * 4
    status, _ = _call(app, "POST", "/tokenize", {"prompt": "x", "messages": msgs})
    assert status == 400
