"""Both latency models end to end: batching admission seen in /metrics, the plain
distribution model, and aborts when a client goes away."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.request

import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servegate.sim.process import SimProcess

pytestmark = pytest.mark.integration


def scrape(sim: SimProcess) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(sim.base_url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, s.labels.get("finished_reason", ""))] = s.value
    return out


def wait_for(pred: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def open_stream(port: int, max_tokens: int) -> socket.socket:
    """Send a streamed completions request on a raw socket and leave it running."""
    body = orjson.dumps(
        {
            "model": "sim-model",
            "prompt": "hold",
            "max_tokens": max_tokens,
            "ignore_eos": True,
            "stream": True,
        }
    )
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(
        b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    return s


def test_max_num_seqs_makes_requests_wait_and_disconnect_aborts() -> None:
    with SimProcess(max_num_seqs=1, decode_base_s=0.01, decode_per_seq_s=0.0) as sim:
        first = open_stream(sim.port, 5000)
        wait_for(lambda: scrape(sim)[("vllm:num_requests_running", "")] == 1)
        second = open_stream(sim.port, 5000)
        wait_for(lambda: scrape(sim)[("vllm:num_requests_waiting", "")] == 1)
        m = scrape(sim)
        assert m[("DCGM_FI_DEV_GPU_UTIL", "")] == 100
        assert m[("vllm:kv_cache_usage_perc", "")] > 0
        first.close()  # the running one goes away: the waiting one is admitted
        wait_for(lambda: scrape(sim)[("vllm:num_requests_waiting", "")] == 0)
        assert scrape(sim)[("vllm:num_requests_running", "")] == 1
        second.close()
        wait_for(lambda: scrape(sim)[("vllm:num_requests_running", "")] == 0)
        m = scrape(sim)
        assert m[("vllm:request_success_total", "abort")] == 2
        assert m[("vllm:kv_cache_usage_perc", "")] == 0


def test_distribution_model_streams_and_records_latency() -> None:
    knobs = dict(
        latency_model="distribution",
        ttft_dist="normal",
        ttft_mean_s=0.02,
        ttft_stdev_s=0.005,
        itl_mean_s=0.002,
    )
    with SimProcess(**knobs) as sim:  # type: ignore[arg-type]
        c = openai.OpenAI(base_url=sim.base_url + "/v1", api_key="x", max_retries=0)
        chunks = list(
            c.chat.completions.create(
                model="sim-model",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=6,
                stream=True,
                extra_body={"ignore_eos": True},
            )
        )
        c.close()
        assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) == 6
        m = scrape(sim)
        assert m[("vllm:time_to_first_token_seconds_count", "")] == 1
        assert m[("vllm:time_to_first_token_seconds_sum", "")] > 0
        assert m[("vllm:inter_token_latency_seconds_count", "")] == 5
        assert m[("vllm:request_success_total", "length")] == 1


def test_slow_headers_fault_delays_the_status_line() -> None:
    with SimProcess(fault_slow_headers_rate=1.0, fault_slow_headers_s=0.3) as sim:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        body = orjson.dumps({"model": "sim-model", "prompt": "x", "max_tokens": 1})
        t0 = time.monotonic()
        conn.request("POST", "/v1/completions", body=body)
        resp = conn.getresponse()  # returns once the status line arrives
        waited = time.monotonic() - t0
        assert resp.status == 200 and orjson.loads(resp.read())["usage"]["completion_tokens"] == 1
        conn.close()
    assert waited >= 0.3
