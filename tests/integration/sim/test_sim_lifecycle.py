"""Start-up delay, faults, and shutdown of a real simulator process."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openai
import orjson
import psutil
import pytest

from servegate.errors import UserError
from servegate.sim.process import SimProcess
from servegate.wait import wait_until

pytestmark = pytest.mark.integration


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_health_is_503_while_loading_then_200() -> None:
    # An hour of loading: the checks below run long before it ends, however busy the host.
    with SimProcess(startup_delay_s=3600, wait_loaded=False) as sim:
        assert status(sim.base_url + "/health") == 503
        assert status(sim.base_url + "/v1/models") == 503
        assert status(sim.base_url + "/metrics") == 200
    # A short load ends: awaited as a state, with a deadline only against a hang.
    with SimProcess(startup_delay_s=0.2, wait_loaded=False) as sim:
        assert wait_until(lambda: status(sim.base_url + "/health") == 200, 60, 0.05)
        assert status(sim.base_url + "/v1/models") == 200


def _stream(port: int) -> tuple[list[bytes], bool]:
    """Raw streamed chat request; returns the data lines and whether the body completed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = orjson.dumps(
        {
            "model": "sim-model",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 20,
            "stream": True,
            "ignore_eos": True,
        }
    )
    conn.request("POST", "/v1/chat/completions", body=body)
    resp = conn.getresponse()
    try:
        raw, complete = resp.read(), True
    except http.client.IncompleteRead as e:
        raw, complete = e.partial, False
    conn.close()
    return [ln for ln in raw.split(b"\n\n") if ln.strip()], complete


FAST = dict(decode_base_s=0.0, decode_per_seq_s=0.0, prefill_s_per_token=0.0)


def test_truncate_and_malformed_faults() -> None:
    with SimProcess(fault_truncate_rate=1.0, **FAST) as sim:  # type: ignore[arg-type]
        events, complete = _stream(sim.port)
        assert not complete
        assert b"data: [DONE]" not in events
        with urllib.request.urlopen(sim.base_url + "/metrics", timeout=5) as r:
            text = r.read().decode()
        assert (
            'vllm:request_success_total{finished_reason="abort",model_name="sim-model"} 1.0' in text
        )
    with SimProcess(fault_malformed_rate=1.0, **FAST) as sim:  # type: ignore[arg-type]
        events, complete = _stream(sim.port)
        assert complete and events[-1] == b"data: [DONE]"
        bad = 0
        for ev in events[:-1]:
            try:
                assert ev.startswith(b"data: ")
                orjson.loads(ev[6:])
            except (AssertionError, orjson.JSONDecodeError):
                bad += 1
        assert bad == 1


def test_http_5xx_fault_and_same_seed_same_faults() -> None:
    outcomes = []
    for _ in range(2):
        with SimProcess(fault_http_5xx_rate=0.5, seed=11, **FAST) as sim:  # type: ignore[arg-type]
            c = openai.OpenAI(base_url=sim.base_url + "/v1", api_key="x", max_retries=0)
            row = []
            for _ in range(12):
                try:
                    c.completions.create(model="sim-model", prompt="p", max_tokens=2)
                    row.append(200)
                except openai.InternalServerError as e:
                    row.append(e.status_code)
            c.close()
            outcomes.append(row)
    assert outcomes[0] == outcomes[1]
    assert 200 in outcomes[0] and 500 in outcomes[0]


def test_stall_delays_but_completes() -> None:
    knobs = dict(fault_stall_rate=1.0, fault_stall_s=0.3, **FAST)
    with SimProcess(**knobs) as sim:  # type: ignore[arg-type]
        t0 = time.monotonic()
        events, complete = _stream(sim.port)
        stalled = time.monotonic() - t0
    assert complete and events[-1] == b"data: [DONE]"
    assert stalled >= 0.3  # a lower bound only: the stall must have happened


def test_sigterm_exits_cleanly() -> None:
    sim = SimProcess().start()
    assert sim.proc is not None
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(timeout=10) == 0
    sim.stop()


def test_bad_settings_fail_fast_and_port_in_use() -> None:
    with pytest.raises(ValueError):
        SimProcess(max_num_seqs=0)
    with SimProcess() as first, pytest.raises(UserError, match="cannot listen"):
        SimProcess(port=first.port).start()


def test_cli_one_line_error_for_bad_config(tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "servegate", "sim", "--config", "/nonexistent/sim.yaml"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "/nonexistent/sim.yaml" in proc.stderr


def test_a_simulator_started_without_host_listens_on_loopback_only() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVEGATE_SIM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "servegate", "sim", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("servegate-sim listening on http://127.0.0.1:"), ready
        listening = [
            c.laddr
            for c in psutil.Process(proc.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        if proc.stdout is not None:
            proc.stdout.close()
