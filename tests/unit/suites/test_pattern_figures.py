"""Pure parts of the pattern benchmarks: cost, RAG stage joins, cold-start spreads, PV binding.

Each check is shown able to fail: an unknown GPU product, a failed stage, a chain outside the
window, an empty sample all give the error or the count the suite asserts on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PATTERNS = Path(__file__).resolve().parents[3] / "suites" / "benchmark" / "patterns"
if str(PATTERNS) not in sys.path:
    sys.path.insert(0, str(PATTERNS))

from pattern_figures import (  # noqa: E402
    Headline,
    cold_start_markdown,
    cost_of,
    pattern_row,
    rag_figures,
    spread,
)
from pattern_storage import claims_of, volume_for, with_storage_class  # noqa: E402

from servegate.config.prices import GpuPrice, PriceTable  # noqa: E402
from servegate.errors import ConfigError, UserError  # noqa: E402
from servegate.metrics.record import ErrorKind, RequestRecord  # noqa: E402

PRICES = PriceTable(gpus={"GPU-X": GpuPrice(usd_per_hour=3.6, source="test")})
MS = 1_000_000


def test_cost_follows_gpus_price_and_rate() -> None:
    c = cost_of(2, "GPU-X", PRICES, output_tokens_per_s=1000.0, requests_per_s=4.0)
    # 2 GPUs x $3.6/h = $0.002/s; 1000 tok/s -> $2 per 1M tokens; 4 req/s -> $0.5 per 1k
    assert c.usd_per_hour == pytest.approx(7.2)
    assert c.usd_per_million_output_tokens == pytest.approx(2.0)
    assert c.usd_per_1k_requests == pytest.approx(0.5)
    idle = cost_of(1, "GPU-X", PRICES, 0.0, 0.0)
    assert idle.usd_per_million_output_tokens is None and idle.usd_per_1k_requests is None


def test_cost_of_an_unpriced_gpu_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"no price for GPU 'GPU-Y'.*GPU-X"):
        cost_of(1, "GPU-Y", PRICES, 10.0, 1.0)


def test_pattern_row_shows_missing_figures_as_dashes() -> None:
    head = Headline(1.5, 100.0, None, 250.0, None, "pass (x)")
    row = pattern_row("p", head, cost_of(1, "GPU-X", PRICES, 100.0, 1.5), None)
    assert row["goodput req/s"] == "-" and row["TPOT p99 ms"] == "-"
    assert row["GPU util mean %"] == "-" and row["$ per 1M out tok"] == "10.000"


def _rec(api: str, chain: str, sent_ms: int, end_ms: int, **kw: object) -> RequestRecord:
    return RequestRecord(
        request_id=f"{chain}-{api}",
        api=api,
        stream=api == "chat",
        sent_ns=sent_ms * MS,
        end_ns=end_ms * MS,
        tags={"chain": chain},
        **kw,  # type: ignore[arg-type]
    )


def _chain(chain: str, t0: int, tokens: int = 11) -> list[RequestRecord]:
    emb = _rec("embeddings", chain, t0, t0 + 20, chunks=[(20 * MS, 0)])
    # chat sent 2 ms after the embedding answer, first token 100 ms later, 10 ms per token
    chat = _rec(
        "chat",
        chain,
        t0 + 22,
        t0 + 22 + 100 + 10 * (tokens - 1),
        chunks=[(100 * MS, 1)],
        completion_tokens=tokens,
    )
    return [chat, emb]  # out of order on purpose: the join sorts by send time


def test_rag_figures_join_each_chain_into_stages() -> None:
    recs = _chain("a", 1000) + _chain("b", 2000)
    fig = rag_figures(recs, (0, 10_000 * MS))
    assert (fig.chains, fig.failed) == (2, 0)
    assert fig.embed_ms.p50 == pytest.approx(20.0)
    assert fig.gap_ms.p50 == pytest.approx(2.0)
    assert fig.chat_ttft_ms.p50 == pytest.approx(100.0)
    assert fig.answer_ttft_ms.p50 == pytest.approx(122.0)
    assert fig.chat_tpot_ms.p50 == pytest.approx(10.0)
    assert fig.end_to_end_ms.max == pytest.approx(222.0)


def test_rag_figures_count_failed_stages_and_respect_the_window() -> None:
    failed_chat = _chain("c", 3000)
    failed_chat[0].error = ErrorKind.HTTP_5XX
    only_embedding = [r for r in _chain("d", 4000) if r.api == "embeddings"]
    outside = _chain("e", 90_000)
    untagged = _chain("f", 5000)
    for r in untagged:
        r.tags = {}
    fig = rag_figures(
        _chain("a", 1000) + failed_chat + only_embedding + outside + untagged, (0, 10_000 * MS)
    )
    assert (fig.chains, fig.failed) == (1, 2)


def test_spread_and_cold_start_table() -> None:
    s = spread([3.0, 1.0, 2.0])
    assert (s.n, s.median, s.minimum, s.maximum) == (3, 2.0, 1.0, 3.0)
    assert s.stdev == pytest.approx(1.0)
    assert spread([4.0]).stdev is None
    with pytest.raises(ValueError):
        spread([])
    md = cold_start_markdown({"a": [1.0, 2.0], "b": [5.0]}, {"a": "emptyDir"})
    lines = md.splitlines()
    assert len(lines) == 4 and "| a | 2 | 1.50 |" in lines[2] and "emptyDir" in lines[2]


def test_claims_are_prebound_one_per_replica_and_template() -> None:
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "llm"},
        "spec": {
            "replicas": 2,
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "model-cache"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "100Gi"}},
                    },
                }
            ],
        },
    }
    claims = claims_of([sts, {"kind": "Deployment", "metadata": {"name": "x"}, "spec": {}}])
    assert [c for c, _ in claims] == ["model-cache-llm-0", "model-cache-llm-1"]
    pv = volume_for("pv-1", "sg-static-1", claims[0][1], {"run": "r"})
    assert pv["spec"]["storageClassName"] == "sg-static-1"
    assert pv["spec"]["capacity"] == {"storage": "100Gi"}
    assert pv["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pv["spec"]["hostPath"]["path"].endswith("/pv-1")
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    out = with_storage_class([sts], "sg-static-1")
    assert out[0]["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "sg-static-1"
    assert "storageClassName" not in sts["spec"]["volumeClaimTemplates"][0]["spec"]  # a copy


def test_promql_selector_matches_pods_exactly_and_rejects_odd_names() -> None:
    from pattern_env import selector

    sel = selector("sg-ns", ["llm-service-0", "a.b"])
    assert sel == '{namespace="sg-ns",pod=~"llm-service-0|a\\\\.b"}'
    with pytest.raises(UserError, match="not a pod name"):
        selector("sg-ns", ['x"}) or vector(1'])


def test_cold_start_pod_swaps_the_cache_volume_and_never_restarts() -> None:
    from coldstart_env import cold_start_pod

    template = {
        "metadata": {"labels": {"app": "vllm"}},
        "spec": {
            "containers": [{"name": "vllm", "args": ["--port", "8000"]}],
            "volumes": [
                {"name": "model-cache", "emptyDir": {"sizeLimit": "100Gi"}},
                {"name": "dshm", "emptyDir": {"medium": "Memory"}},
            ],
        },
    }
    cache = {"hostPath": {"path": "/var/tmp/c", "type": "DirectoryOrCreate"}}
    extra = [({"name": "src", "hostPath": {"path": "/src"}}, {"name": "src", "mountPath": "/s"})]
    pod = cold_start_pod(template, "cold-0", cache, ["--model-cache", "/m"], {"n": "real"}, extra)
    spec = pod["spec"]
    assert spec["volumes"][0] == {"name": "model-cache", **cache}
    assert [v["name"] for v in spec["volumes"]] == ["model-cache", "dshm", "src"]
    assert spec["containers"][0]["args"] == ["--port", "8000", "--model-cache", "/m"]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "src", "mountPath": "/s"}]
    assert spec["restartPolicy"] == "Never" and spec["nodeSelector"] == {"n": "real"}
    assert pod["metadata"]["labels"]["servegate.io/cold-start"] == "cold-0"
    assert template["spec"]["containers"][0]["args"] == ["--port", "8000"]  # not mutated


def test_admit_product_widens_only_the_product_term() -> None:
    from pattern_env import admit_product

    sts = {
        "kind": "StatefulSet",
        "spec": {
            "template": {
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": "nvidia.com/gpu.product",
                                                "operator": "In",
                                                "values": ["A100-80GB"],
                                            },
                                            {"key": "zone", "operator": "In", "values": ["a"]},
                                        ]
                                    }
                                ]
                            }
                        }
                    }
                }
            }
        },
    }
    out = admit_product([sts, {"kind": "Service"}], "A100-40GB")
    terms = out[0]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    exprs = terms["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert exprs["matchExpressions"][0]["values"] == ["A100-80GB", "A100-40GB"]
    assert exprs["matchExpressions"][1]["values"] == ["a"]
    again = admit_product(out, "A100-40GB")  # idempotent
    assert again[0] == out[0] and out[1] == {"kind": "Service"}


def test_cache_problems_catch_a_cache_that_did_not_persist_or_did() -> None:
    from pattern_figures import cache_problems

    hit = "servegate-sim: model cache hit in /c/models--llm: load 1.5 s"
    miss = "servegate-sim: model cache miss in /c/models--llm: download 6 s, load 1.5 s"
    assert cache_problems([("a", miss, False), ("b", hit, True)]) == []
    wrong = cache_problems([("a", hit, False), ("b", miss, True), ("c", "", True)])
    assert [w.split(":")[0] for w in wrong] == ["a", "b", "c"]
    assert "expected a cache miss" in wrong[0] and "expected a cache hit" in wrong[1]
    assert "no model-cache line" in wrong[2]
