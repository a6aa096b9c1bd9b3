"""Benchmark of the two vLLM patterns: latency against the MLPerf preset, cost, GPU utilisation.

Setup: deploy the pattern (sim overlay on the local cluster, pinned to the real node; pods
annotated for the node's Prometheus), wait until Prometheus scrapes every serving pod.
Assess: run loadprofiles/patterns/pattern-chat.yaml (on the engine overlay its copy with a new
connection per request, pattern-chat-engine.yaml) against the ClusterIP Service; check the
figures are trustworthy (no errors, no load-generator saturation, token counts agree) and meet
p99 TTFT 2000 ms / p99 TPOT 100 ms (MLPerf llama3.1-8b server); price the GPUs the pattern
holds from the price table; read DCGM utilisation over the measured window (not on the engine
overlay: llama-server computes on CPU and exports no GPU gauges, see
:data:`NO_GPU_UTIL_ON_ENGINE`; the row then shows none). The figures go
into the run directory (cost.json) and one row of the session index's pattern section.
Teardown: the deploy fixture saves events and logs and deletes the namespace.
"""

from __future__ import annotations

import json

import pytest

from servegate.checks.patterns.env import deployed_pattern, wait_serving
from servegate.checks.patterns.figures import cost_of, headline_of, pattern_row
from servegate.checks.patterns.report import PatternTable
from servegate.checks.patterns.trust import slo_misses, why_untrusted
from servegate.config.prices import PriceTable
from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.load import RunProfile
from servegate.harness.settings import Settings

pytestmark = [pytest.mark.benchmark, pytest.mark.e2e]

SLO = "mlperf-llama3.1-8b-server"
PROFILE = "patterns/pattern-chat"
PROFILES = {"engine": "patterns/pattern-chat-engine"}
"""Per overlay, where the server needs its own connections: llama-server closes every
streamed connection (docs/engine.md)."""
NO_GPU_UTIL_ON_ENGINE = (
    "not read on the engine overlay: llama-server computes on the pod's CPUs and exports no "
    "DCGM gauges; the GPU the fake device plugin allocated to the pod is never used"
)
PATTERNS = [
    pytest.param("vllm-statefulset", marks=pytest.mark.vllm_statefulset, id="vllm-statefulset"),
    pytest.param("vllm-deployment", marks=pytest.mark.vllm_deployment, id="vllm-deployment"),
]


@pytest.mark.parametrize("unit", PATTERNS)
def test_pattern_meets_mlperf_slo_with_cost(
    unit: str,
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    pattern_table: PatternTable,
    sg_settings: Settings,
    sg_prices: PriceTable,
) -> None:
    profile = PROFILES.get(sg_settings.overlay, PROFILE)
    with deployed_pattern(sg_cluster, deploy_unit, unit) as pattern:
        pattern.wait_scraped()
        with service_url(sg_cluster, pattern.namespace, pattern.service()) as url:
            wait_serving(url)
            res = run_profile(profile, url, slo=SLO, model="auto")
        s = res.summary
        util = pattern.gpu_util(s)
    held, prom, th = pattern.held, pattern.prom, s.throughput
    # a price table without this GPU product fails the test in one line (ConfigError)
    cost = cost_of(held.gpus, held.product, sg_prices, th.output_tokens_per_s, th.requests_per_s)
    engine = sg_settings.overlay == "engine"
    data: dict[str, object] = {
        "run_dir": res.run_dir.name,
        "cost": cost.__dict__,
        "gpu_util": util and util.__dict__,
    }
    if engine:
        data["gpu_util_note"] = NO_GPU_UTIL_ON_ENGINE
    (res.run_dir / "cost.json").write_text(json.dumps(data, indent=2) + "\n")
    pattern_table.add(unit, pattern_row(unit, headline_of(s, SLO), cost, util), data)

    doubts = why_untrusted(res)
    assert not doubts, "; ".join(doubts)
    assert s.slo is not None and s.slo.passed, slo_misses(s)
    assert cost.usd_per_million_output_tokens is not None
    if prom is not None and not engine:
        assert util is not None, f"Prometheus {prom.url} has no DCGM series for {pattern.namespace}"
        assert util.series == held.gpus, f"{util.series} DCGM series, {held.gpus:g} GPUs held"
        assert util.util_max_pct > 0, "the GPUs never showed a running sequence under load"
