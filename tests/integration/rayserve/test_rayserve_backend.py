"""The Ray Serve replica's relay without Ray: SimBackend starts its simulator child and
relays requests to it as a replica does (Ray itself runs it in
suites/conformance/operators/test_ray_serve_running.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading

import orjson
import pytest

from servegate.errors import UserError
from servegate.rayserve.backend import SimBackend, Upstream, sim_settings
from servegate.wait import wait_until

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json", "x-forwarded-for": "10.0.0.1"}


async def _body(up: Upstream) -> bytes:
    if up.chunks is None:
        return up.body
    return b"".join([c async for c in up.chunks])


def test_backend_relays_chat_stream_models_and_embeddings() -> None:
    async def scenario() -> tuple[Upstream, bytes, Upstream, bytes, Upstream, bytes]:
        backend = SimBackend({"model_name": "llm", "decode_base_s": 0.0}).start()
        try:
            chat = {
                "model": "llm",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "max_tokens": 5,
                "ignore_eos": True,
            }
            streamed = await backend.forward(
                "POST", "/v1/chat/completions", "", JSON, orjson.dumps(chat)
            )
            streamed_body = await _body(streamed)
            models = await backend.forward("GET", "/v1/models", "", {}, b"")
            models_body = await _body(models)
            emb = {"model": "llm", "input": ["a", "b"]}
            embedded = await backend.forward("POST", "/v1/embeddings", "", JSON, orjson.dumps(emb))
            return streamed, streamed_body, models, models_body, embedded, await _body(embedded)
        finally:
            await backend.close()

    streamed, sbody, models, mbody, embedded, ebody = asyncio.run(scenario())
    assert streamed.status == 200 and streamed.stream
    assert streamed.headers["Content-Type"].startswith("text/event-stream")
    events = [e for e in sbody.split(b"\n\n") if e.startswith(b"data: {")]
    assert len(events) == 1 + 5  # the role chunk, then one event per token
    assert sbody.rstrip().endswith(b"data: [DONE]")
    assert "transfer-encoding" not in {k.lower() for k in streamed.headers}
    assert models.status == 200 and not models.stream
    assert [m["id"] for m in orjson.loads(mbody)["data"]] == ["llm"]
    assert embedded.status == 200 and len(orjson.loads(ebody)["data"]) == 2


def test_backend_passes_errors_through() -> None:
    async def scenario() -> tuple[int, bytes]:
        backend = SimBackend({"model_name": "llm"}).start()
        try:
            up = await backend.forward(
                "POST", "/v1/chat/completions", "", JSON, b'{"model": "other"}'
            )
            return up.status, await _body(up)
        finally:
            await backend.close()

    status, body = asyncio.run(scenario())
    assert status in (400, 404) and b"error" in body


def test_simulator_dies_with_its_replica() -> None:
    """A replica killed outright (SIGKILL) leaves no simulator behind (parent-death signal)."""
    code = (
        "import sys; from servegate.rayserve.backend import SimBackend; "
        "b = SimBackend({'model_name': 'x'}).start(); print(b.sim.proc.pid, flush=True); "
        "sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        return False

    if not wait_until(gone, 15.0, interval_s=0.05):
        os.kill(child, signal.SIGKILL)
        pytest.fail(f"simulator {child} outlived its killed replica")


def test_simulator_outlives_the_thread_that_started_the_backend() -> None:
    """Serve runs a replica's constructor in a pooled thread that exits when idle; the
    simulator must keep serving after that thread is gone."""
    box: list[SimBackend] = []
    starter = threading.Thread(target=lambda: box.append(SimBackend({"model_name": "x"}).start()))
    starter.start()
    starter.join()
    backend = box[0]

    async def models() -> int:
        try:
            return (await backend.forward("GET", "/v1/models", "", {}, b"")).status
        finally:
            await backend.close()

    proc = backend.sim.proc
    assert proc is not None
    # Were the signal tied to the gone thread, it would have arrived at once: a second of
    # grace only keeps a busy machine from hiding it.
    assert not wait_until(lambda: proc.poll() is not None, 1.0, interval_s=0.05)
    assert asyncio.run(models()) == 200


@pytest.mark.parametrize(
    ("args", "named"),
    [({"model_nam": "x"}, "['model_nam']"), ({"port": 1}, "must not set host or port")],
)
def test_bad_application_args_are_one_line_errors(args: dict[str, object], named: str) -> None:
    with pytest.raises(UserError, match=named.replace("[", r"\[").replace("]", r"\]")):
        sim_settings(args)
