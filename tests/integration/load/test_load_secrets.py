"""No secret reaches the results: canary tokens in the load generator's environment and in
the profile's headers (through ``${env:NAME}``) appear in no file a real ``servegate run``
writes (records decompressed, logs, run.json, reports) nor in its output, while the
simulator, which demands the token as its API key, proves that the header was sent."""

from __future__ import annotations

import gzip
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from servegate.sim.process import SimProcess

pytestmark = pytest.mark.integration
SERVEGATE_RUN = (sys.executable, "-m", "servegate", "run")

PROFILE = """\
kind: Profile
name: it-secrets
api: chat
model: sim-model
load: {type: closed}
shape: {type: steady, level: 2, duration: 3s}
warmup: 0.5s
prompt: {dist: uniform, mean: 20, min: 10, max: 30}
output: {dist: constant, mean: 8}
ignore_eos: true
workers: 2
headers:
  Authorization: "Bearer ${env:SG_IT_API_TOKEN}"
  X-Request-Tag: "${env:SG_IT_TAG}"
  X-Team: servegate-it
"""


def hits(root: Path, needles: list[str]) -> list[str]:
    """Every file under ``root`` (gzip files decompressed) that holds one of ``needles``."""
    found = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        data = f.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        found += [f"{f}: {n}" for n in needles if n.encode() in data]
    return found


def _run(tmp: Path, url: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    tmp.mkdir()
    prof = tmp / "p.yaml"
    prof.write_text(textwrap.dedent(PROFILE))
    results = tmp / "results"
    res = subprocess.run(
        [*SERVEGATE_RUN, "--profile", str(prof), "--url", url, "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120", **env},
    )
    dirs = [d for d in results.iterdir() if d.is_dir()] if results.exists() else []
    assert len(dirs) == 1, res.stdout + res.stderr
    return res, dirs[0]


def test_the_scan_finds_a_canary_in_a_compressed_file(tmp_path: Path) -> None:
    """The scan below is able to fail: a canary inside a .gz file is found."""
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b'{"x": "sg-canary-123"}\n'))
    (tmp_path / "b.txt").write_text("nothing here\n")
    assert hits(tmp_path, ["sg-canary-123"]) == [f"{tmp_path / 'a.jsonl.gz'}: sg-canary-123"]


def test_canaries_in_env_and_headers_reach_no_result_file(tmp_path: Path) -> None:
    token = f"sg-canary-token-{secrets.token_hex(8)}"
    tag = f"sg-canary-tag-{secrets.token_hex(8)}"
    hf = f"hf_sgcanary{secrets.token_hex(8)}"
    env = {"SG_IT_API_TOKEN": token, "SG_IT_TAG": tag, "HF_TOKEN": hf}
    with SimProcess(api_key=token, timestamps=True) as sim:
        res, run = _run(tmp_path / "good", sim.base_url, env)
        bad, bad_run = _run(tmp_path / "bad", sim.base_url, {**env, "SG_IT_API_TOKEN": "wrong"})
    assert res.returncode == 0, res.stdout + res.stderr
    # the simulator refuses any request without the right bearer token: the header was sent
    summary = orjson.loads((run / "summary.json").read_bytes())
    assert summary["counts"]["succeeded"] > 0 and summary["counts"]["errors"] == {}
    bad_summary = orjson.loads((bad_run / "summary.json").read_bytes())
    assert bad_summary["counts"]["succeeded"] == 0
    assert set(bad_summary["counts"]["errors"]) == {"http_4xx"}
    # run.json keeps the header names, not the values behind them
    headers = orjson.loads((run / "run.json").read_bytes())["profile"]["headers"]
    assert headers == {
        "Authorization": "<redacted>",
        "X-Request-Tag": "${env:SG_IT_TAG}",
        "X-Team": "servegate-it",
    }
    assert (run / "logs" / "master.log").exists() and (run / "records").is_dir()
    canaries = [token, tag, hf]
    assert hits(tmp_path, canaries) == []
    for out in (res.stdout, res.stderr, bad.stdout, bad.stderr):
        assert not [c for c in canaries if c in out]


def test_an_unset_header_variable_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    prof = tmp_path / "p.yaml"
    prof.write_text(textwrap.dedent(PROFILE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SG_IT_")}
    results = str(tmp_path / "r")
    with SimProcess() as sim:
        res = subprocess.run(
            [*SERVEGATE_RUN, "--profile", str(prof), "--url", sim.base_url, "--results", results],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "environment variable SG_IT_API_TOKEN is not set" in res.stderr
