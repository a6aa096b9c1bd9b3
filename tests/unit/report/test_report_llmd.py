"""The llm-d Benchmark Report v0.2 export validates against the vendored upstream schema."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from report_runs import MakeRun, S, synthetic_records

from servegate.cli import cli
from servegate.cli.export import llmd_document, schema_problems
from servegate.metrics.server import SERVER_METRICS_FILE
from servegate.paths import LLMD_REPORT_SCHEMA
from servegate.report import write_report

PROFILE = """\
kind: Profile
name: demo
api: chat
model: m
load: {type: closed}
shape: {type: steady, level: 4, duration: 10s}
prompt: {dist: uniform, mean: 20, min: 10, max: 30}
output: {dist: constant, mean: 8}
"""


def _scrapes(run: Path) -> None:
    lines = [{"source": "http://127.0.0.1:9/metrics", "interval_s": 1.0}]
    for i in range(12):
        values = {
            "vllm:num_requests_running": float(i % 4),
            "vllm:num_requests_waiting": 0.0,
            "vllm:kv_cache_usage_perc": 0.05 * (i % 4),
            "vllm:generation_tokens_total": 80.0 * i,
            "DCGM_FI_DEV_GPU_UTIL": 25.0 * (i % 4),
        }
        lines.append({"wall_ns": i * S, "values": values})
    (run / SERVER_METRICS_FILE).write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))


@pytest.fixture
def reported(make_run: MakeRun) -> Path:
    run = make_run(synthetic_records(100))
    (run / "profile.yaml").write_text(PROFILE)
    _scrapes(run)
    write_report(run)
    return run


def test_vendored_schema_has_its_source_note() -> None:
    note = (LLMD_REPORT_SCHEMA.parent / "llm-d-benchmark-report-v0.2.SOURCE.md").read_text()
    assert "llm-d/llm-d-benchmark" in note and "Apache-2.0" in note


def test_export_validates_against_the_vendored_schema(reported: Path) -> None:
    doc = llmd_document(reported)
    assert schema_problems(doc) == []
    agg = doc["results"]["request_performance"]["aggregate"]
    assert agg["requests"]["total"] == 100 and agg["requests"]["failures"] == 10
    assert agg["latency"]["time_to_first_token"]["units"] == "ms"
    kv = doc["results"]["observability"]["components"][0]["aggregate"]["kv_cache_usage"]
    assert kv["units"] == "percent" and kv["max"] == pytest.approx(15.0)
    assert doc["scenario"]["load"]["standardized"]["input_seq_len"] == {
        "distribution": "uniform",
        "value": 20,
        "min": 10,
        "max": 30,
    }


def test_the_schema_check_rejects_a_broken_report(reported: Path) -> None:
    doc = copy.deepcopy(llmd_document(reported))
    del doc["run"]["uid"]
    doc["results"]["request_performance"]["aggregate"]["latency"]["time_to_first_token"][
        "units"
    ] = "fortnights"
    problems = schema_problems(doc)
    assert any("uid" in p for p in problems) and any("fortnights" in p for p in problems)


def test_export_command_writes_json_and_yaml(reported: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["export", str(reported)])
    assert res.exit_code == 0, res.output
    written = reported / "benchmark_report_v0.2.json"
    assert orjson.loads(written.read_bytes())["version"] == "0.2"
    out = tmp_path / "r.yaml"
    res = CliRunner().invoke(cli, ["export", str(reported), "--yaml", "--out", str(out)])
    assert res.exit_code == 0 and out.read_text().startswith("version: '0.2'")
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "not a run directory" in res.output
