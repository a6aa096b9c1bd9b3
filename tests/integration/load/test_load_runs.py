"""Real Locust runs in subprocesses: against the simulator and against a faulty stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from servegate.metrics.io import read_records

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent


def _profile(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent(body))
    return p


def _servegate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "servegate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _run_dir(results: Path) -> Path:
    dirs = [d for d in results.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_closed_loop_two_workers_against_the_simulator(tmp_path: Path) -> None:
    prof = _profile(
        tmp_path,
        """\
        kind: Profile
        name: it-closed
        api: chat
        model: sim-model
        load: {type: closed}
        shape: {type: steady, level: 4, duration: 3s}
        warmup: 0.5s
        prompt: {dist: uniform, mean: 20, min: 10, max: 30}
        output: {dist: constant, mean: 8}
        ignore_eos: true
        prefix: {groups: 2, length: 16}
        seed: 3
        workers: 2
    """,
    )
    res = _servegate("run", "--profile", str(prof), "--sim", "--results", str(tmp_path / "r"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    run = _run_dir(tmp_path / "r")
    files = sorted(p.name for p in (run / "records").iterdir())
    assert files == ["records-w0.jsonl.gz", "records-w1.jsonl.gz"]
    recs = list(read_records(run))
    assert recs and all(r.error is None for r in recs)
    assert {r.worker for r in recs} == {"w0", "w1"}
    # streamed, usage from the server, server timestamps on the shared clock
    for r in recs:
        assert r.completion_tokens == 8 and r.client_tokens == len(r.chunks) > 0
        assert r.server_recv_ns is not None and r.sent_ns <= r.server_recv_ns <= r.end_ns
    load = orjson.loads((run / "load.json").read_bytes())
    assert load["tally"]["done"] == len(recs)
    meta = orjson.loads((run / "run.json").read_bytes())
    assert meta["workers"] == 2 and meta["window"]["start_ns"] > meta["start_ns"]
    summary = orjson.loads((run / "summary.json").read_bytes())
    assert summary["counts"]["errors"] == {}
    assert (run / "report.md").exists()


def test_open_loop_poisson_records_schedule(tmp_path: Path) -> None:
    prof = _profile(
        tmp_path,
        """\
        kind: Profile
        name: it-open
        api: completions
        stream: false
        model: sim-model
        load: {type: open, arrival: poisson, max_in_flight: 64}
        shape: {type: stages, stages: [{duration: 1.5s, level: 10}, {duration: 1.5s, level: 30}]}
        prompt: {mean: 10}
        output: {mean: 4}
        seed: 9
        workers: 1
    """,
    )
    res = _servegate("run", "--profile", str(prof), "--sim", "--results", str(tmp_path / "r"))
    assert res.returncode == 0, res.stdout + res.stderr
    run = _run_dir(tmp_path / "r")
    recs = list(read_records(run))
    assert recs and all(r.scheduled_ns is not None for r in recs)
    # sent no earlier than scheduled (queueing is measured, never negative beyond jitter)
    assert all(r.sent_ns - r.scheduled_ns > -2_000_000 for r in recs)  # type: ignore[operator]
    steps = Counter(r.tags["step"] for r in recs)
    assert steps["1"] > steps["0"]  # the higher stage sent more
    meta = orjson.loads((run / "run.json").read_bytes())
    assert [s["rate_rps"] for s in meta["stages"]] == [10, 30]


def test_sweep_steps_are_judged_by_the_master(tmp_path: Path) -> None:
    prof = _profile(
        tmp_path,
        """\
        kind: Profile
        name: it-sweep
        api: chat
        model: sim-model
        load: {type: open, arrival: constant, max_in_flight: 64}
        shape:
          type: sweep
          start: 4
          stop: 8
          step: 4
          step_duration: 1.5s
          settle: 0.25s
          criteria: {max_error_rate: 0.5, min_achieved_ratio: 0.1}
        prompt: {mean: 8}
        output: {mean: 4}
        workers: 1
    """,
    )
    res = _servegate("run", "--profile", str(prof), "--sim", "--results", str(tmp_path / "r"))
    assert res.returncode == 0, res.stdout + res.stderr
    run = _run_dir(tmp_path / "r")
    load = orjson.loads((run / "load.json").read_bytes())
    assert [(v["level"], v["passed"]) for v in load["verdicts"]] == [(4, True), (8, True)]
    assert all(v["requests"] > 0 for v in load["verdicts"])
    meta = orjson.loads((run / "run.json").read_bytes())
    assert [s["rate_rps"] for s in meta["stages"]] == [4, 8]
    steps = Counter(r.tags["step"] for r in read_records(run))
    assert set(steps) == {"0", "1"}


@pytest.fixture
def faulty_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "faulty_server.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("LISTENING"), line
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_faulty_server_errors_are_classified(tmp_path: Path, faulty_url: str) -> None:
    prof = _profile(
        tmp_path,
        """\
        kind: Profile
        name: it-faults
        api: chat
        model: m
        load: {type: closed, think_time: 20ms}
        shape: {type: steady, level: 3, duration: 4s}
        prompt: {mean: 5}
        output: {mean: 4}
        timeout: 1.5s
        workers: 1
    """,
    )
    res = _servegate(
        "run", "--profile", str(prof), "--url", faulty_url, "--results", str(tmp_path / "r")
    )
    out = res.stdout + res.stderr
    assert "Traceback" not in out
    assert res.returncode == 0, out
    run = _run_dir(tmp_path / "r")
    assert "Traceback" not in (run / "logs" / "worker-0.log").read_text()
    kinds = Counter(r.error.value if r.error else "ok" for r in read_records(run))
    expected = {"ok", "http_5xx", "bad_sse", "truncated", "not_json", "timeout", "connect"}
    assert expected <= set(kinds), kinds
    assert "client" not in kinds, kinds  # no exception escaped the classification
    summary = orjson.loads((run / "summary.json").read_bytes())
    assert summary["counts"]["errors"]


def test_unreachable_endpoint_is_one_line_before_any_load(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        prof = _profile(
            tmp_path,
            """\
            kind: Profile
            name: it-unreachable
            api: chat
            model: m
            load: {type: closed}
            shape: {type: steady, level: 1, duration: 1s}
            prompt: {mean: 5}
            output: {mean: 4}
        """,
        )
        res = _servegate(
            "run",
            "--profile",
            str(prof),
            "--url",
            f"http://127.0.0.1:{port}",
            "--results",
            str(tmp_path / "r"),
            timeout=30,
        )
    assert res.returncode == 1
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot reach" in err[0] and str(port) in err[0]
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
