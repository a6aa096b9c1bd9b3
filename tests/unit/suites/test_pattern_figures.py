"""Pure parts of the pattern benchmarks: cost, RAG stage joins, cold-start spreads, PV binding,
trusted figures, DCGM queries over a stand-in Prometheus.

Each check is shown able to fail: an unknown GPU product, a failed stage, a chain outside the
window, an empty sample, an untrusted run, an unscraped pod all give the error or the count
the suite asserts on.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from servegate.checks.patterns.coldstart import cold_start_pod, namespace_only
from servegate.checks.patterns.env import (
    admit_product,
    gpu_util,
    selector,
    serving_service,
    wait_for_targets,
)
from servegate.checks.patterns.figures import (
    Headline,
    cache_problems,
    cold_start_markdown,
    cost_of,
    pattern_row,
    rag_figures,
    spread,
    sweep_knee,
)
from servegate.checks.patterns.storage import (
    claims_of,
    remove_host_dirs,
    volume_for,
    with_storage_class,
)
from servegate.checks.patterns.trust import slo_misses, why_untrusted
from servegate.config.prices import GpuPrice, PriceTable
from servegate.errors import ConfigError, UserError
from servegate.harness.load import LoadResult
from servegate.k8s.prometheus import Prometheus, Sample
from servegate.metrics.record import ErrorKind, RequestRecord
from servegate.wait import WaitTimeout

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
    sts: dict[str, Any] = {
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
    sel = selector("sg-ns", ["llm-service-0", "a.b"])
    assert sel == '{namespace="sg-ns",pod=~"llm-service-0|a\\\\.b"}'
    with pytest.raises(UserError, match="not a pod name"):
        selector("sg-ns", ['x"}) or vector(1'])


def test_cold_start_pod_swaps_the_cache_volume_and_never_restarts() -> None:
    template: dict[str, Any] = {
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


def test_cold_start_pod_drops_the_pre_stop_pause_with_the_grace_period() -> None:
    # the reference Deployment pauses 10 s before SIGTERM; with no grace period the API
    # refuses that pause (it must be shorter than the grace period), so the bare pod has none
    hooks = {"preStop": {"sleep": {"seconds": 10}}, "postStart": {"exec": {"command": ["true"]}}}
    template: dict[str, Any] = {
        "spec": {
            "terminationGracePeriodSeconds": 30,
            "containers": [
                {"name": "vllm", "lifecycle": copy.deepcopy(hooks)},
                {"name": "side", "lifecycle": {"preStop": {"sleep": {"seconds": 10}}}},
            ],
        }
    }
    spec = cold_start_pod(template, "cold-0", {"emptyDir": {}}, [], None)["spec"]
    assert spec["terminationGracePeriodSeconds"] == 0
    assert spec["containers"][0]["lifecycle"] == {"postStart": hooks["postStart"]}
    assert "lifecycle" not in spec["containers"][1]
    assert template["spec"]["containers"][0]["lifecycle"] == hooks  # not mutated


def test_admit_product_widens_only_the_product_term() -> None:
    sts: dict[str, Any] = {
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
    hit = "servegate-sim: model cache hit in /c/models--llm: load 1.5 s"
    miss = "servegate-sim: model cache miss in /c/models--llm: download 6 s, load 1.5 s"
    assert cache_problems([("a", miss, False), ("b", hit, True)]) == []
    wrong = cache_problems([("a", hit, False), ("b", miss, True), ("c", "", True)])
    assert [w.split(":")[0] for w in wrong] == ["a", "b", "c"]
    assert "expected a cache miss" in wrong[0] and "expected a cache hit" in wrong[1]
    assert "no model-cache line" in wrong[2]


def _run(problem: str = "", failed: int = 0, flags: tuple[str, ...] = ()) -> LoadResult:
    """A load run of 100 requests, ``failed`` of them failed."""
    counts = SimpleNamespace(
        succeeded=100 - failed,
        error_rate=failed / 100,
        errors={"http_5xx": failed} if failed else {},
    )
    summary = SimpleNamespace(counts=counts, flag_codes=lambda: set(flags), slo=None)
    return LoadResult(run_dir=Path("r"), summary=summary, problems=[problem] if problem else [])


def test_figures_are_trusted_only_without_problems_errors_or_flags() -> None:
    assert why_untrusted(_run()) == []
    assert why_untrusted(_run(failed=1)) == []  # 1 % is allowed
    assert why_untrusted(_run(problem="worker died")) == ["load engine problems: ['worker died']"]
    assert why_untrusted(_run(failed=2)) == ["errors by kind: {'http_5xx': 2}"]
    none_ok = why_untrusted(_run(failed=100))
    assert none_ok[0].startswith("no successful request") and len(none_ok) == 2
    wrong = why_untrusted(_run(flags=("past_generator_ceiling", "token_count_mismatch")))
    assert wrong == [
        "figures taken past the load generator's ceiling",
        "client and server token counts disagree",
    ]


def test_slo_misses_name_each_limit_missed() -> None:
    verdicts = [
        SimpleNamespace(key="ttft.p99", observed=2500.0, limit=2000.0, passed=False),
        SimpleNamespace(key="tpot.p99", observed=50.0, limit=100.0, passed=True),
    ]
    summary: Any = SimpleNamespace(slo=SimpleNamespace(verdicts=verdicts))
    assert slo_misses(summary) == "ttft.p99 observed 2500.0 > limit 2000.0"
    assert slo_misses(SimpleNamespace(slo=None)) == ""  # type: ignore[arg-type]


class _Prom(Prometheus):
    """Canned answers by query, no server."""

    def __init__(self, answers: dict[str, list[Sample]]) -> None:
        self.url = "http://prom.test"
        self.answers = answers
        self.asked: list[tuple[str, float | None]] = []

    def query(self, expr: str, at_s: float | None = None) -> list[Sample]:
        self.asked.append((expr, at_s))
        return self.answers.get(expr.split("{")[0].split("(")[-1], [])


def test_gpu_util_averages_over_gpus_and_needs_a_series() -> None:
    prom = _Prom(
        {
            "DCGM_FI_DEV_GPU_UTIL": [({"pod": "a"}, 10.0), ({"pod": "b"}, 30.0)],
            "DCGM_FI_DEV_FB_USED": [({"pod": "a"}, 512.0)],
        }
    )
    util = gpu_util(prom, "ns", ["a", "b"], 100.0, 130.4)
    assert util is not None and (util.util_mean_pct, util.series) == (20.0, 2)
    assert (util.util_max_pct, util.fb_used_max_mib, util.source) == (30.0, 512.0, prom.url)
    assert prom.asked[0] == (
        'avg_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="ns",pod=~"a|b"}[30s])',
        130.4,
    )
    assert gpu_util(_Prom({}), "ns", ["a"], 0.0, 10.0) is None


def test_targets_not_scraped_in_time_say_how_many_are() -> None:
    prom = _Prom({"up": [({"pod": "a"}, 1.0)]})
    wait_for_targets(prom, "ns", ["a"], timeout_s=0)
    with pytest.raises(WaitTimeout, match=r"scrapes 1 of 2 pod\(s\) of ns .*prometheus.io/scrape"):
        wait_for_targets(prom, "ns", ["a", "b"], timeout_s=0)


def test_serving_service_skips_headless_and_names_a_missing_port() -> None:
    objs: list[dict[str, Any]] = [
        {"kind": "Service", "metadata": {"name": "h"}, "spec": {"clusterIP": "None"}},
        {"kind": "Service", "metadata": {"name": "llm"}, "spec": {"ports": [{"port": 8000}]}},
    ]
    assert serving_service(objs) == "llm" and serving_service(objs, 8000) == "llm"
    with pytest.raises(UserError, match="no ClusterIP Service on port 8080"):
        serving_service(objs, 8080)


def test_cold_start_keeps_the_namespace_but_not_the_workload() -> None:
    kinds = ["Namespace", "ResourceQuota", "Deployment", "NetworkPolicy", "Service"]
    kept = namespace_only([{"kind": k} for k in kinds])
    assert [o["kind"] for o in kept] == ["Namespace", "ResourceQuota", "Service"]


def test_host_dirs_removed_only_under_their_root(tmp_path: Path) -> None:
    root = tmp_path / "pv"
    (root / "a" / "models").mkdir(parents=True)
    (root / "b").mkdir()
    outside = tmp_path / "keep"
    outside.mkdir()
    remove_host_dirs(root, ["a", "../keep"])
    assert not (root / "a").exists() and (root / "b").is_dir() and outside.is_dir()
    remove_host_dirs(root, ["b"])
    assert not root.exists()  # the root goes once it is empty


def _step(level: float, passed: bool, reason: str = "") -> dict[str, object]:
    return {"level": level, "passed": passed, "reason": reason}


def test_sweep_knee_lies_between_the_last_met_and_the_first_failed_step() -> None:
    k = sweep_knee(
        [_step(1, True), _step(2, True), _step(3, False, "achieved 0.86 of the offered rate")]
    )
    assert k == {
        "last_met_rps": 2,
        "first_failed_rps": 3,
        "text": "between 2 and 3 req/s offered: 2 met every criterion, 3 did not "
        "(achieved 0.86 of the offered rate)",
    }
    low = sweep_knee([_step(4, False, "achieved 0.22 of the offered rate")])
    assert low["last_met_rps"] is None and low["first_failed_rps"] == 4
    assert low["text"] == "below the first step: 4 req/s failed (achieved 0.22 of the offered rate)"
    top = sweep_knee([_step(4, True), _step(16, True)])
    assert top["first_failed_rps"] is None
    assert top["text"] == "not reached: every step up to 16 req/s met its criteria"
    assert sweep_knee([])["text"] == "not known: no step was judged"
