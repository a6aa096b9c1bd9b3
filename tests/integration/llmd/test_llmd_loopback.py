"""llm-d-inference-sim (built from the Go module proxy at the pinned tag) on loopback.

A second server for vLLM's API and metrics that no one on this team wrote: its OpenAI
endpoints answer servegate's load generator and the openai client, and its own Prometheus
counters (``vllm:request_success_total``, ``vllm:generation_tokens_total``) are the oracle
for what a servegate run sent. Its queue gauge, ``vllm:num_requests_waiting``, is what the
HPA queue-depth check scales on with ``--sg-overlay llmd``; here it is seen to count the
requests beyond ``--max-num-seqs``.

The first run compiles it (cached under ~/.cache/servegate/llmd-sim; docs/engine.md gives
the cold time); without Go it is skipped with the reason, and in CI (``CI`` set) it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servegate.cluster.node import llmdsim
from servegate.cluster.node.llmdsim import LlmdSimProcess
from servegate.metrics.io import read_records
from servegate.metrics.record import RequestRecord
from servegate.wait import wait_until

pytestmark = pytest.mark.integration

MODEL = "llm"
QUEUE_METRICS = ("vllm:num_requests_waiting", "vllm:num_requests_running")


@pytest.fixture(scope="module")
def built() -> llmdsim.LlmdBuild:
    got = llmdsim.cached()
    if got is not None:
        return got
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        missing = "Go is not installed: llm-d-inference-sim cannot be built"
        if os.environ.get("CI"):
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    return llmdsim.build()


@pytest.fixture(scope="module")
def sim(built: llmdsim.LlmdBuild) -> Iterator[LlmdSimProcess]:
    with LlmdSimProcess(built) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(sim: LlmdSimProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.base_url + "/v1", api_key="none", max_retries=0) as c:
        yield c


def _metrics(base_url: str) -> dict[str, float]:
    """Each sample's value by name, summed over label sets (one model here)."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def test_models_lists_the_served_name(sim: LlmdSimProcess) -> None:
    with urllib.request.urlopen(sim.base_url + "/v1/models", timeout=10) as r:
        models = json.loads(r.read())
    assert [m["id"] for m in models["data"]] == [MODEL]


def test_chat_completion_runs_to_max_tokens_with_ignore_eos(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "tell me about the river and the stone"}],
        max_tokens=7,
        extra_body={"ignore_eos": True},
    )
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 7
    assert reply.usage.prompt_tokens > 0
    assert reply.choices[0].message.content


def test_streamed_completion_ends_with_usage(client: openai.OpenAI) -> None:
    stream = client.completions.create(
        model=MODEL,
        prompt="the garden window",
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    usage = [c.usage for c in chunks if c.usage is not None]
    assert text and len(usage) == 1 and usage[0].completion_tokens == 5


def test_metrics_have_the_vllm_names_servegate_scales_on(sim: LlmdSimProcess) -> None:
    names = set(_metrics(sim.base_url))
    for name in (*QUEUE_METRICS, "vllm:request_success_total", "vllm:generation_tokens_total"):
        assert name in names, name


def test_waiting_gauge_counts_requests_beyond_max_num_seqs(built: llmdsim.LlmdBuild) -> None:
    """One sequence at a time, 3 long requests at once: while the first decodes, the gauge
    must show the other two waiting (and one running); afterwards nothing waits."""
    flags = [f for f in llmdsim.SERVE_FLAGS]
    flags[flags.index("--max-num-seqs") + 1] = "1"
    flags[flags.index("--inter-token-latency") + 1] = "100ms"
    with LlmdSimProcess(built, flags=tuple(flags)) as proc:
        body = json.dumps(
            {"model": MODEL, "prompt": "one two three", "max_tokens": 30, "ignore_eos": True}
        ).encode()

        def post() -> int:
            req = urllib.request.Request(
                proc.base_url + "/v1/completions",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=60) as r:
                return int(json.loads(r.read())["usage"]["completion_tokens"])

        seen: dict[str, float] = {}

        def queued() -> bool:
            m = _metrics(proc.base_url)
            seen.update({k: m.get(k, -1.0) for k in QUEUE_METRICS})
            return m.get("vllm:num_requests_waiting") == 2 and m.get(QUEUE_METRICS[1]) == 1

        with ThreadPoolExecutor(3) as pool:
            replies = [pool.submit(post) for _ in range(3)]
            # the first request alone takes 3 s (30 tokens, 100 ms apart)
            assert wait_until(queued, 3.0, interval_s=0.05), seen
            assert [f.result() for f in replies] == [30, 30, 30]
        m = _metrics(proc.base_url)
        assert (m["vllm:num_requests_waiting"], m["vllm:num_requests_running"]) == (0, 0)


@dataclass(frozen=True)
class Run:
    records: list[RequestRecord]
    before: dict[str, float]
    after: dict[str, float]
    cut_off: int  # requests sent without a record (stopped with the run, or under way at its end)


@pytest.fixture(scope="module")
def servegate_run(sim: LlmdSimProcess, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("llmd-run")
    profile = tmp / "p.yaml"
    profile.write_text(
        textwrap.dedent(
            """\
            kind: Profile
            name: llmd-it
            api: chat
            stream: true
            model: llm
            load: {type: closed}
            shape: {type: steady, level: 3, duration: 3s}
            warmup: 0s
            prompt: {dist: uniform, mean: 32, min: 16, max: 48}
            output: {dist: constant, mean: 12}
            ignore_eos: true
            seed: 3
            workers: 1
            """
        )
    )
    before = _metrics(sim.base_url)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate",
            "run",
            "--profile",
            str(profile),
            "--url",
            sim.base_url,
            "--results",
            str(tmp / "r"),
            "--server-metrics",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_dir,) = [d for d in (tmp / "r").iterdir() if d.is_dir()]
    tally = json.loads((run_dir / "load.json").read_text())["tally"]
    # a request cut off by the end of the run may still finish on the server: let it
    assert wait_until(lambda: _metrics(sim.base_url)["vllm:num_requests_running"] == 0, 10.0)
    return Run(
        list(read_records(run_dir)), before, _metrics(sim.base_url), int(tally["unrecorded"])
    )


def test_servegate_run_succeeds_with_server_usage(servegate_run: Run) -> None:
    recs = servegate_run.records
    assert recs and all(r.ok for r in recs), [r.error_detail for r in recs if not r.ok][:3]
    assert all(r.completion_tokens == 12 and r.prompt_tokens for r in recs)


def test_the_servers_counters_saw_exactly_the_runs_requests(servegate_run: Run) -> None:
    """Its request and token counters against servegate's records: exact, but for requests
    cut off by the end of the run, which the server may count and servegate did not record."""
    before, after, recs, cut = (
        servegate_run.before,
        servegate_run.after,
        servegate_run.records,
        servegate_run.cut_off,
    )
    done = after["vllm:request_success_total"] - before["vllm:request_success_total"]
    assert 0 <= done - len(recs) <= cut
    tokens = after["vllm:generation_tokens_total"] - before["vllm:generation_tokens_total"]
    assert 0 <= tokens - sum(r.completion_tokens or 0 for r in recs) <= 12 * cut


def test_the_overlay_command_line_starts_the_server(built: llmdsim.LlmdBuild) -> None:
    """The llmd overlay's args as kustomize renders them, with the port swapped for a free
    one: the server accepts every flag, serves the model and its queue gauge."""
    from servegate.k8s.render import parse_objects, render_yaml, resolve_unit

    objs = parse_objects(render_yaml(resolve_unit("vllm-deployment", "llmd")), "llmd")
    (dep,) = [o for o in objs if o["kind"] == "Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"] == [f"/{llmdsim.BINARY}"]
    args = [a for a in c["args"] if not a.startswith("--port")]
    assert len(args) == len(c["args"]) - 1, "the overlay sets no port to swap"
    with LlmdSimProcess(built, flags=tuple(args)) as proc:
        with urllib.request.urlopen(proc.base_url + "/v1/models", timeout=10) as r:
            assert [m["id"] for m in json.loads(r.read())["data"]] == [MODEL]
        assert "vllm:num_requests_waiting" in _metrics(proc.base_url)


def test_licence_is_apache_2(built: llmdsim.LlmdBuild) -> None:
    assert "Apache License" in built.licence.read_text()[:200]
    assert "Version 2.0" in built.licence.read_text()[:200]
