"""The simulator as a real subprocess on loopback, driven by the openai client."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servegate.sim.process import SimProcess

pytestmark = pytest.mark.integration

MODEL = "sim-model"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with SimProcess(decode_base_s=0.001, decode_per_seq_s=0.0, prefill_s_per_token=0.0) as s:
        yield s


@pytest.fixture(scope="module")
def client(sim: SimProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.base_url + "/v1", api_key="none", max_retries=0) as c:
        yield c


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_models(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [MODEL]


def test_chat_stream_role_content_finish_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me about Kubernetes, briefly."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert not chunks[0].choices[0].delta.content
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) == 12
    assert content[-1].choices[0].finish_reason == "length"
    assert all(c.choices[0].finish_reason is None for c in content[:-1])
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.completion_tokens == 12
    assert usage.prompt_tokens == 7 + 4  # 7 tokens of text + 4 per message


def test_chat_non_stream_is_deterministic(client: openai.OpenAI) -> None:
    def ask() -> openai.types.chat.ChatCompletion:
        return client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "same prompt"}],
            max_tokens=500,
            extra_body={"min_tokens": 3},
        )

    a, b = ask(), ask()
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.usage is not None and a.usage.completion_tokens >= 3
    assert a.choices[0].finish_reason == "stop"


def test_completions_stream_and_not(client: openai.OpenAI) -> None:
    r = client.completions.create(
        model=MODEL, prompt="one two three", max_tokens=5, extra_body={"ignore_eos": True}
    )
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (3, 5)
    text = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model=MODEL,
            prompt="one two three",
            max_tokens=5,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        if c.choices
    )
    assert text == r.choices[0].text


def test_embeddings_base64_and_float(client: openai.OpenAI, sim: SimProcess) -> None:
    r = client.embeddings.create(model=MODEL, input=["alpha beta", "gamma"])
    assert [d.index for d in r.data] == [0, 1]
    vec = r.data[0].embedding
    assert len(vec) == sim.settings.embedding_dim
    assert sum(x * x for x in vec) == pytest.approx(1.0, rel=1e-4)
    assert r.usage.prompt_tokens == 3
    again = client.embeddings.create(model=MODEL, input="alpha beta", encoding_format="float")
    assert again.data[0].embedding == pytest.approx(vec, rel=1e-5)


def test_bad_requests_are_openai_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=-1
        )
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.completions.create(model="other", prompt="x")


def test_invalid_json_body(sim: SimProcess) -> None:
    req = urllib.request.Request(
        sim.base_url + "/v1/chat/completions",
        data=b"{nope",
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code == 400
    err = orjson.loads(exc.value.read())["error"]
    assert err["code"] == 400 and "not valid JSON" in err["message"]


def test_garbage_http_gets_400_and_close(sim: SimProcess) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        s.sendall(b"\x00\x01 NOT HTTP\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 400")


def test_metrics_names_and_counts(client: openai.OpenAI, sim: SimProcess) -> None:
    client.completions.create(
        model=MODEL, prompt="count me", max_tokens=4, extra_body={"ignore_eos": True}
    )
    status, body = get(sim.base_url + "/metrics")
    assert status == 200
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in (
        "vllm:num_requests_running",
        "vllm:kv_cache_usage_perc",
        "vllm:time_to_first_token_seconds",
        "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:request_queue_time_seconds",
        "vllm:prompt_tokens",
        "vllm:generation_tokens",
        "vllm:request_success",
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
    ):
        assert name in fams, name
    gen = next(s.value for s in fams["vllm:generation_tokens"].samples)
    assert gen >= 4
    assert all(s.labels.get("model_name") == MODEL for s in fams["vllm:prompt_tokens"].samples)


def test_timestamps_on_request(sim: SimProcess) -> None:
    body = orjson.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "t"}],
            "max_tokens": 3,
            "stream": True,
            "ignore_eos": True,
        }
    )
    req = urllib.request.Request(
        sim.base_url + "/v1/chat/completions", data=body, headers={"x-servegate-timestamps": "1"}
    )
    before = time.perf_counter_ns()
    with urllib.request.urlopen(req, timeout=5) as r:
        recv_header = int(r.headers["x-servegate-recv-ns"])
        lines = [ln for ln in r.read().split(b"\n") if ln.startswith(b"data: {")]
    after = time.perf_counter_ns()
    stamps = [orjson.loads(ln[6:]).get("servegate") for ln in lines]
    assert stamps[0] is None  # the role-only chunk carries none
    content = [s for s in stamps[1:] if s is not None]
    assert len(content) == 3
    assert all(s["recv_ns"] == recv_header for s in content)
    emits = [s["emit_ns"] for s in content]
    assert before < recv_header <= emits[0] <= emits[1] <= emits[2] < after
