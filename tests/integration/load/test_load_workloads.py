"""Every workload profile in loadprofiles/workloads/ run against the simulator, with checks
against independent oracles: the sample files themselves (read here with csv/json), the
simulator's own token counts (usage), and its count of accepted connections."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from servegate.metrics.io import read_records
from servegate.metrics.record import RequestRecord
from servegate.sim.process import SimProcess

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
PROFILES = ROOT / "loadprofiles" / "workloads"
DATA = ROOT / "loadprofiles" / "data"
CHAT_FRAMING = 4  # the simulator counts 4 tokens per chat message (docs/sim.md)


def _run(profile: str, tmp: Path, *target: str) -> tuple[Path, list[RequestRecord], dict]:  # type: ignore[type-arg]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate",
            "run",
            "--profile",
            str(PROFILES / profile),
            *(target or ("--sim",)),
            "--results",
            str(tmp),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    (run,) = [d for d in tmp.iterdir() if d.is_dir()]
    recs = list(read_records(run))
    assert recs and all(r.error is None for r in recs), [r.error_detail for r in recs if r.error]
    summary = orjson.loads((run / "summary.json").read_bytes())
    return run, recs, summary


def _outputs(rows: list[tuple[float, int, int]], scale: float, duration: float) -> Counter[int]:
    t0 = rows[0][0]
    return Counter(o for t, _, o in rows if (t - t0) * scale < duration)


def test_trace_azure_sends_every_entry_with_its_lengths(tmp_path: Path) -> None:
    from datetime import datetime

    with (DATA / "azure.csv").open() as f:
        rows = [
            (
                datetime.fromisoformat(r["TIMESTAMP"][:26]).timestamp(),
                int(r["ContextTokens"]),
                int(r["GeneratedTokens"]),
            )
            for r in csv.DictReader(f)
        ]
    _, recs, s = _run("trace-azure.yaml", tmp_path)
    want = _outputs(sorted(rows), 0.5, 7.0)  # all 60: the last is due at 4.5 s
    assert Counter(r.completion_tokens for r in recs) == want  # one request per trace entry
    assert all(r.prompt_tokens == r.prompt_len_requested + CHAT_FRAMING for r in recs)
    assert {p + 0 for _, p, _ in rows} >= {r.prompt_len_requested for r in recs}
    assert all(r.scheduled_ns is not None for r in recs)
    assert "azure trace azure.csv" in s["run"]["workload"]["prompts"]


def test_trace_burstgpt_skips_failed_rows_and_caps(tmp_path: Path) -> None:
    with (DATA / "burstgpt.csv").open() as f:
        rows = [
            (float(r["Timestamp"]), int(r["Request tokens"]), int(r["Response tokens"]))
            for r in csv.DictReader(f)
            if int(r["Response tokens"]) > 0
        ]
    _, recs, _ = _run("trace-burstgpt.yaml", tmp_path)
    assert Counter(r.completion_tokens for r in recs) == Counter(o for _, _, o in sorted(rows)[:30])


def test_trace_mooncake_on_completions(tmp_path: Path) -> None:
    rows = [json.loads(ln) for ln in (DATA / "mooncake.jsonl").read_text().splitlines()]
    _, recs, _ = _run("trace-mooncake.yaml", tmp_path)
    want = Counter(r["output_length"] for r in rows if r["timestamp"] / 1000 * 0.25 < 4.0)
    assert Counter(r.completion_tokens for r in recs) == want
    # completions carry no chat framing; prompts were clamped to 256 tokens
    assert all(r.prompt_tokens == r.prompt_len_requested <= 256 for r in recs)


def test_sharegpt_prompts_are_the_first_human_turns(tmp_path: Path) -> None:
    convs = json.loads((DATA / "sharegpt.json").read_text())
    firsts = {c["conversations"][0]["value"] for c in convs}
    run, recs, _ = _run("sharegpt.yaml", tmp_path)
    items = [json.loads(ln) for ln in (run / "workload.jsonl").read_text().splitlines()]
    assert len(items) == 24 and {i["text"] for i in items} <= firsts
    assert all(4 <= r.prompt_len_requested <= 400 for r in recs)


def test_jsonl_open_loop_uses_each_lines_output_length(tmp_path: Path) -> None:
    lines = [json.loads(ln) for ln in (DATA / "prompts.jsonl").read_text().splitlines()]
    _, recs, _ = _run("jsonl.yaml", tmp_path)
    assert {r.completion_tokens for r in recs} <= {ln["output_tokens"] for ln in lines}
    assert all(r.scheduled_ns is not None for r in recs)


def test_csv_lengths_as_the_local_tokenizer_counts_them(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(DATA / "tokenizer.json"))
    run, _recs, s = _run("csv.yaml", tmp_path)
    for item in (json.loads(ln) for ln in (run / "workload.jsonl").read_text().splitlines()):
        assert len(tok.encode(item["text"], add_special_tokens=False).ids) == item["tokens"]
        assert 8 <= item["tokens"] <= 120
    assert s["run"]["workload"]["token_counter"].startswith("tokenizer.json")


def test_hf_lengths_counted_by_the_servers_tokenize(tmp_path: Path) -> None:
    _, recs, s = _run("hf.yaml", tmp_path)
    # the count /tokenize gave before the run is the server's own prompt count (plus framing)
    assert all(r.prompt_tokens == r.prompt_len_requested + CHAT_FRAMING for r in recs)
    assert s["run"]["workload"]["token_counter"].startswith("server POST")


def test_multi_turn_carries_the_history(tmp_path: Path) -> None:
    _, recs, s = _run("multi-turn.yaml", tmp_path)
    sessions: dict[str, list[RequestRecord]] = defaultdict(list)
    for r in recs:
        sessions[r.tags["session"]].append(r)
    assert len(sessions) >= 3
    for turns in sessions.values():
        turns.sort(key=lambda r: int(r.tags["turn"]))
        assert [int(r.tags["turn"]) for r in turns] == list(range(1, len(turns) + 1))
        for r in turns:
            k = int(r.tags["turn"])
            # turn k sends 2k-1 messages; its prompt is every earlier prompt and reply
            assert r.prompt_tokens == r.prompt_len_requested + CHAT_FRAMING * (2 * k - 1)
        assert [r.prompt_tokens for r in turns] == sorted(r.prompt_tokens for r in turns)
    assert [g["key"] for g in s["groups"] if g["by"] == "turn"] == ["1", "2", "3", "4"]


def test_model_mix_per_model_figures_and_slos(tmp_path: Path) -> None:
    _, recs, s = _run("model-mix.yaml", tmp_path)
    assert {r.tags["model"] for r in recs} == {"sim-model", "sql-lora", "chat-lora"}
    by = {g["key"]: g for g in s["groups"] if g["by"] == "model"}
    assert set(by) == {"sim-model", "sql-lora", "chat-lora"}
    assert by["sim-model"]["slo"] is None
    assert by["sql-lora"]["slo"]["spec"]["name"] == "sql-lora"
    assert sum(g["counts"]["total"] for g in by.values()) == s["counts"]["total"]


def _connections(url: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("servegate_sim_connections_total")]
    return float(line.split()[-1])


def test_connection_churn_opens_new_connections(tmp_path: Path) -> None:
    with SimProcess(timestamps=True) as sim:
        before = _connections(sim.base_url)
        target = ("--url", sim.base_url, "--server-metrics", "off")
        _, recs, _ = _run("connection-churn.yaml", tmp_path, *target)
        opened = _connections(sim.base_url) - before
    # 10 req/s for 4 s, every 4th request closes its connection: at least 40 / 4 new ones
    # (with keep-alive, a few: the reachability check and the pool's one or two)
    assert len(recs) >= 36 and opened >= len(recs) // 4
