"""The real engine (llama.cpp's llama-server, built from the pinned sources) on loopback.

Each check compares servegate against the engine itself, an implementation no one on the
team wrote: its API and usage (through the openai client), its tokenizer (``/tokenize``),
its own per-request ``timings`` and its Prometheus counters. Timing checks are causal lower
bounds only (docs/testing.md): the client cannot see a first token before the engine has
processed the prompt.

Skipped with the reason when llama-server is not built here (``servegate engine build``);
``make test`` builds it first, and in CI (``CI`` set) a missing build fails instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servegate.cluster.node import enginebuild
from servegate.cluster.node.engineproc import EngineProcess
from servegate.load.prompts import WORDS
from servegate.metrics.io import read_records
from servegate.metrics.record import RequestRecord

pytestmark = pytest.mark.integration

MODEL = "llm"


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    build = enginebuild.cached()
    if build is None:
        missing = "llama-server is not built (servegate engine build; make test builds it)"
        if os.environ.get("CI"):
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    with EngineProcess(build) as eng:
        yield eng


@pytest.fixture(scope="module")
def client(engine: EngineProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=engine.base_url + "/v1", api_key="none", max_retries=0) as c:
        yield c


def _post(engine: EngineProcess, path: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        engine.base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        doc = json.loads(r.read())
    assert isinstance(doc, dict)
    return doc


def _tokenize(engine: EngineProcess, text: str, special: bool) -> list[int]:
    tokens = _post(engine, "/tokenize", {"content": text, "add_special": special})["tokens"]
    assert isinstance(tokens, list)
    return tokens


def _prompt(n: int) -> str:
    return " ".join(WORDS[(i * 7) % len(WORDS)] for i in range(n))


def test_chat_completion_has_usage_and_runs_to_max_tokens(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": _prompt(20)}], max_tokens=12
    )
    assert reply.usage is not None and reply.usage.completion_tokens == 12
    assert reply.usage.prompt_tokens > 20  # the words plus the chat template's
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content


def test_streamed_chat_ends_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": _prompt(10)}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = [], None
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                text.append(choice.delta.content)
        usage = chunk.usage or usage
    assert usage is not None and usage.completion_tokens == 8
    assert len(text) == 8  # one content chunk per token


def test_usage_token_counts_match_the_engine_tokenizer(
    engine: EngineProcess, client: openai.OpenAI
) -> None:
    prompt = _prompt(40)
    done = client.completions.create(model=MODEL, prompt=prompt, max_tokens=16)
    assert done.usage is not None
    # the prompt as the engine's tokenizer sees it (with its BOS token)
    assert done.usage.prompt_tokens == len(_tokenize(engine, prompt, special=True))
    # the reply's text tokenizes back to exactly the tokens that produced it
    assert done.usage.completion_tokens == 16
    assert len(_tokenize(engine, done.choices[0].text, special=False)) == 16


@dataclass(frozen=True)
class Run:
    records: list[RequestRecord]
    before: dict[str, float]
    after: dict[str, float]
    cut_off: int
    """Requests sent without a record: stopped with the run or still under way at its end
    (the engine may have worked on each)."""


def _counters(engine: EngineProcess) -> dict[str, float]:
    with urllib.request.urlopen(engine.base_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name] = s.value
    return out


@pytest.fixture(scope="module")
def servegate_run(engine: EngineProcess, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("engine-run")
    profile = tmp / "p.yaml"
    profile.write_text(
        textwrap.dedent(
            """\
            kind: Profile
            name: engine-it
            api: chat
            stream: true
            model: llm
            load: {type: closed}
            shape: {type: steady, level: 3, duration: 4s}
            warmup: 0s
            prompt: {dist: uniform, mean: 48, min: 24, max: 72}
            output: {dist: constant, mean: 16}
            ignore_eos: true
            seed: 5
            workers: 1
            connections: {mode: per-request}
            """
        )
    )
    before = _counters(engine)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate",
            "run",
            "--profile",
            str(profile),
            "--url",
            engine.base_url,
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
    after = _counters(engine)
    return Run(list(read_records(run_dir)), before, after, int(tally["unrecorded"]))


def test_every_request_carries_the_engine_timings(servegate_run: Run) -> None:
    recs = servegate_run.records
    assert recs and all(r.ok for r in recs), [r.error_detail for r in recs if not r.ok][:3]
    for r in recs:
        t = r.engine_timings
        assert t is not None, r.request_id
        assert t["prompt_n"] + t.get("cache_n", 0) == r.prompt_tokens
        assert t["predicted_n"] == r.completion_tokens == 16


def test_servegate_times_bound_the_engine_times_from_above(servegate_run: Run) -> None:
    for r in servegate_run.records:
        t = r.engine_timings
        assert t is not None and r.chunks
        ttft_ms = r.chunks[0][0] / 1e6
        e2e_ms = (r.end_ns - r.sent_ns) / 1e6
        # causality: sent before the engine started, first token seen after it was made
        assert ttft_ms >= t["prompt_ms"], (ttft_ms, t)
        assert e2e_ms >= t["prompt_ms"] + t["predicted_ms"], (e2e_ms, t)


def test_the_engine_counters_saw_exactly_the_runs_tokens(servegate_run: Run) -> None:
    before, after = servegate_run.before, servegate_run.after
    recs = servegate_run.records

    def delta(name: str) -> float:
        return after[name] - before[name]

    # exact when no request was cut off by the end of the run; each cut-off one may add up
    # to its max_tokens (16) and its prompt (at most 72 words + the chat template's tokens)
    cut = servegate_run.cut_off
    predicted = delta("llamacpp:tokens_predicted_total")
    assert 0 <= predicted - sum(r.completion_tokens or 0 for r in recs) <= 16 * cut
    prompt = delta("llamacpp:prompt_tokens_total") + delta("llamacpp:prompt_tokens_cached_total")
    assert 0 <= prompt - sum(r.prompt_tokens or 0 for r in recs) <= 100 * cut


def test_the_overlay_command_line_starts_the_engine() -> None:
    """The engine overlay's args, as kustomize renders them, with only the model path and
    the address swapped for loopback ones: the server accepts every flag and serves."""
    from servegate.cluster.node import images, tinymodel
    from servegate.k8s.render import parse_objects, render_yaml, resolve_unit

    build = enginebuild.cached()
    if build is None:
        pytest.skip("llama-server is not built")
    objs = parse_objects(render_yaml(resolve_unit("vllm-deployment", "engine")), "engine")
    (dep,) = [o for o in objs if o["kind"] == "Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["/llama-server"]
    swap = {images.ENGINE_MODEL: str(tinymodel.build()), "0.0.0.0": "127.0.0.1", "8000": "0"}
    args = [swap.get(a, a) for a in c["args"]]
    assert args != c["args"], "the overlay names no model, host or port to swap"
    with EngineProcess(build, args=args) as eng:
        with urllib.request.urlopen(eng.base_url + "/v1/models", timeout=10) as r:
            models = json.loads(r.read())
        assert [m["id"] for m in models["data"]] == ["llm"]
        assert "llamacpp:requests_deferred" in _counters(eng)


def test_engine_licence_is_mit() -> None:
    build = enginebuild.cached()
    if build is None:
        pytest.skip("llama-server is not built")
    assert Path(build.licence).read_text().startswith("MIT License")
