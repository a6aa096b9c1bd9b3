"""compare on repeats against the simulator: the same server twice is no significant change;
a 20% longer TTFT (the simulator's ttft_mean_s 0.100 s -> 0.120 s) is a regression.

Also what every run now records beside its client figures: the server's metrics, sampled from
the simulator's /metrics during the run (server.json), and each repeat's statistics.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from servegate.sim.process import SimProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROFILE = """\
kind: Profile
name: it-repeats
api: chat
model: sim-model
load: {type: closed}
shape: {type: steady, level: 2, duration: 3s}
warmup: 0.5s
prompt: {dist: constant, mean: 16}
output: {dist: constant, mean: 4}
ignore_eos: true
seed: 11
repeats: 3
workers: 1
"""
GATE = ["--no-defaults", "--max-regress", "ttft.p50=10%", "--max-regress", "ttft.p99=10%"]


def _servegate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servegate", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )


def _run(tmp: Path, url: str, name: str) -> Path:
    prof = tmp / "p.yaml"
    prof.write_text(textwrap.dedent(PROFILE))
    res = _servegate("run", "--profile", str(prof), "--url", url, "--results", str(tmp / name))
    assert res.returncode == 0, res.stdout + res.stderr
    (run,) = (tmp / name).iterdir()
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    tmp = tmp_path_factory.mktemp("repeats")
    sim = {"latency_model": "distribution", "itl_mean_s": 0.005, "timestamps": True}
    with SimProcess(ttft_mean_s=0.100, **sim) as base_sim:
        base = _run(tmp, base_sim.base_url, "base")
        same = _run(tmp, base_sim.base_url, "same")
    with SimProcess(ttft_mean_s=0.120, **sim) as slow_sim:
        slow = _run(tmp, slow_sim.base_url, "slow")
    yield base, same, slow


def test_repeats_use_seed_plus_i_and_summarise_each_figure(runs: tuple[Path, Path, Path]) -> None:
    base, _, _ = runs
    rs = orjson.loads((base / "repeats.json").read_bytes())
    assert rs["runs"] == ["r0", "r1", "r2"] and rs["seeds"] == [11, 12, 13]
    ttft = rs["figures"]["ttft.p50"]
    assert ttft["n"] == 3 and ttft["ci_low"] <= ttft["mean"] <= ttft["ci_high"]
    assert ttft["mean"] == pytest.approx(sum(ttft["values"]) / 3)
    assert rs["method"]["resamples"] == 10000


def test_server_metrics_are_sampled_beside_the_client(runs: tuple[Path, Path, Path]) -> None:
    base, _, _ = runs
    server = orjson.loads((base / "r0" / "server.json").read_bytes())
    assert server["errors"] == 0 and server["source"].endswith("/metrics")
    # two closed-loop users keep the simulator's batch busy inside the window
    assert server["window"]["running"]["max"] >= 1
    assert server["window"]["generation_tokens_per_s"]["mean"] > 0
    assert "Server queue, batch and cache" in (base / "r0" / "report.html").read_text()


def test_same_server_twice_is_no_significant_change(runs: tuple[Path, Path, Path]) -> None:
    base, same, _ = runs
    res = _servegate("compare", str(base), str(same), *GATE)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no significant change" in res.stdout
    assert "Mann-Whitney U" in res.stdout


def test_a_20_percent_ttft_regression_is_regressed(runs: tuple[Path, Path, Path]) -> None:
    base, _, slow = runs
    res = _servegate("compare", str(base), str(slow), *GATE)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "ttft.p50" in res.stdout.split("regressed:")[1]
    assert "REGRESSED" in res.stdout and "unqualified" not in res.stdout
