"""SIGTERM with ``drain_s``: the request in flight is finished, not cut (what a rolling update
relies on); without it the stream is truncated, as before."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time

import pytest

from servegate.sim.process import SimProcess

pytestmark = pytest.mark.integration


def _stream_then_term(sim: SimProcess, tokens: int) -> bytes:
    """Start a streamed completion of ``tokens`` tokens at 20 ms each, SIGTERM the server
    after the first chunk arrived, and read what is left of the stream."""
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=30)
    body = {
        "model": "m",
        "prompt": "hello",
        "max_tokens": tokens,
        "ignore_eos": True,
        "stream": True,
    }
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    first = resp.read1(65536)
    assert b"data: " in first
    assert sim.proc is not None
    threading.Timer(0.0, sim.proc.send_signal, args=(signal.SIGTERM,)).start()
    rest = b""
    try:
        while chunk := resp.read1(65536):
            rest += chunk
    except http.client.IncompleteRead as exc:
        rest += exc.partial
    conn.close()
    return first + rest


# Margins, not timings: a drain of 60 s outlasts a 0.8 s stream on any host, and a stream of
# 1,500 tokens (30 s) outlasts the moment SIGTERM takes effect.
def test_drain_finishes_the_stream_in_flight() -> None:
    with SimProcess(model_name="m", decode_base_s=0.02, drain_s=60.0) as sim:
        data = _stream_then_term(sim, 40)
        assert sim.proc is not None and sim.proc.wait(timeout=60) == 0
    assert data.rstrip().endswith(b"data: [DONE]"), data[-200:]


def test_without_drain_the_stream_is_cut() -> None:
    with SimProcess(model_name="m", decode_base_s=0.02) as sim:
        data = _stream_then_term(sim, 1500)
        assert sim.proc is not None
        sim.proc.wait(timeout=10)
    assert b"[DONE]" not in data


def test_drain_answers_the_next_request_on_a_busy_connection_then_closes() -> None:
    """The client of a response under way at SIGTERM sends its next request on the same
    connection at once (it was told keep-alive): it is answered, with connection: close."""
    with SimProcess(model_name="m", decode_base_s=0.02, drain_s=60.0) as sim:
        assert sim.proc is not None
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=30)
        body = {"model": "m", "prompt": "hi", "max_tokens": 40, "ignore_eos": True}
        headers = {"Content-Type": "application/json"}
        conn.request("POST", "/v1/completions", json.dumps({**body, "stream": True}), headers)
        resp = conn.getresponse()
        assert b"data: " in resp.read1(65536)
        sim.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the stream (40 x 20 ms) is still under way when the drain starts
        rest = resp.read()
        assert resp.getheader("connection") != "close" and rest.rstrip().endswith(b"[DONE]")
        conn.request("POST", "/v1/completions", json.dumps(body), headers)
        resp = conn.getresponse()
        second = json.loads(resp.read())
        assert resp.status == 200 and resp.getheader("connection") == "close"
        assert second["usage"]["completion_tokens"] == 40
        conn.close()
        assert sim.proc.wait(timeout=60) == 0
