"""Benchmark of the two vLLM patterns: latency against the MLPerf preset, cost, GPU utilisation.

Setup: deploy the pattern (sim overlay on the local cluster, pinned to the real node; pods
annotated for the node's Prometheus), wait until Prometheus scrapes every serving pod.
Assess: run loadprofiles/patterns/pattern-chat.yaml against the ClusterIP Service; check the
figures are trustworthy (no errors, no load-generator saturation, token counts agree) and meet
p99 TTFT 2000 ms / p99 TPOT 100 ms (MLPerf llama3.1-8b server); price the GPUs the pattern
holds from the price table; read DCGM utilisation over the measured window. The figures go
into the run directory (cost.json) and one row of the session index's pattern section.
Teardown: the deploy fixture saves events and logs and deletes the namespace.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pattern_env import gpus_held, local_mutate, prometheus_for, serving_service, wait_serving
from pattern_figures import cost_of, headline_of, pattern_row
from pattern_report import PatternTable
from pattern_storage import deploy_pattern

from servegate.config.prices import load_prices
from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.load import RunProfile

pytestmark = [pytest.mark.benchmark, pytest.mark.e2e]

SLO = "mlperf-llama3.1-8b-server"
PROFILE = "patterns/pattern-chat"
PATTERNS = [
    pytest.param("vllm-statefulset", marks=pytest.mark.vllm_statefulset, id="vllm-statefulset"),
    pytest.param("vllm-deployment", marks=pytest.mark.vllm_deployment, id="vllm-deployment"),
]


def _failing(summary: Any) -> str:
    bad = [v for v in summary.slo.verdicts if not v.passed]
    return "; ".join(f"{v.key} observed {v.observed} > limit {v.limit}" for v in bad)


@pytest.mark.parametrize("unit", PATTERNS)
def test_pattern_meets_mlperf_slo_with_cost(
    unit: str,
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    pattern_table: PatternTable,
) -> None:
    prom = prometheus_for(sg_cluster)
    mutate = local_mutate(sg_cluster)
    with deploy_pattern(sg_cluster, deploy_unit, unit, mutate) as dep:
        held = gpus_held(sg_cluster.client, dep.namespace)
        if prom is not None:
            prom.wait_for_targets(dep.namespace, held.pods)
        with service_url(sg_cluster, dep.namespace, serving_service(dep.objects)) as url:
            wait_serving(url)
            res = run_profile(PROFILE, url, slo=SLO, model="auto")
        s = res.summary
        util = None
        if prom is not None:
            start_s, end_s = s.run.window.start_ns / 1e9, s.run.window.end_ns / 1e9
            prom.wait_past(dep.namespace, held.pods, end_s)
            util = prom.gpu_util(dep.namespace, held.pods, start_s, end_s)
    th = s.throughput
    try:
        prices = load_prices()
        cost = cost_of(held.gpus, held.product, prices, th.output_tokens_per_s, th.requests_per_s)
    except UserError as exc:  # a price table without this GPU product: one line
        pytest.fail(str(exc), pytrace=False)
    data = {"run_dir": res.run_dir.name, "cost": cost.__dict__, "gpu_util": util and util.__dict__}
    (res.run_dir / "cost.json").write_text(json.dumps(data, indent=2) + "\n")
    pattern_table.add(unit, pattern_row(unit, headline_of(s, SLO), cost, util), data)

    assert not res.problems, f"load engine problems: {res.problems}"
    assert s.counts.succeeded > 0, f"no successful request; errors by kind: {s.counts.errors}"
    assert (s.counts.error_rate or 0.0) <= 0.01, f"errors by kind: {s.counts.errors}"
    flags = s.flag_codes()
    assert "past_generator_ceiling" not in flags, "figures taken past the load generator's ceiling"
    assert "token_count_mismatch" not in flags, "client and server token counts disagree"
    assert s.slo is not None and s.slo.passed, _failing(s)
    assert cost.usd_per_million_output_tokens is not None
    if prom is not None:
        assert util is not None, f"Prometheus {prom.url} has no DCGM series for {dep.namespace}"
        assert util.series == held.gpus, f"{util.series} DCGM series, {held.gpus:g} GPUs held"
        assert util.util_max_pct > 0, "the GPUs never showed a running sequence under load"
