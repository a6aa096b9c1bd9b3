"""Benchmark of the Ray Serve pattern: latency against the MLPerf preset, and cost.

Setup: Ray Serve running for real (suites/conformance/operators/test_ray_serve_running.py's
setup: the kuberay add-on, servegate's Ray image, the ray-serve sim overlay) and waited for
until the RayService is Running and Serve reports both applications healthy.
Assess: run loadprofiles/patterns/pattern-chat.yaml (the profile of every pattern's row)
against the RayService's serve Service, so every request goes through Serve's HTTP proxy to a
replica and its simulator; check the figures are trustworthy and meet p99 TTFT 2000 ms /
p99 TPOT 100 ms (MLPerf llama3.1-8b server); price the one GPU the worker pod holds (both
models share it) from the price table. The figures go into the run directory (cost.json) and
the Ray Serve row of the session index's pattern section. GPU utilisation is not read: the
simulators' DCGM gauges stay inside the replicas (no Prometheus scrapes them).
Teardown: the deploy fixture saves events and logs and deletes the namespace.
"""

from __future__ import annotations

import json

import pytest

from servegate.checks.operators import rayserve
from servegate.checks.operators.env import OperatorCheck
from servegate.checks.patterns.env import gpus_held, wait_serving
from servegate.checks.patterns.figures import cost_of, headline_of, pattern_row
from servegate.checks.patterns.report import PatternTable
from servegate.checks.patterns.trust import slo_misses, why_untrusted
from servegate.config.prices import PriceTable
from servegate.harness.load import RunProfile

pytestmark = [pytest.mark.benchmark, pytest.mark.e2e, pytest.mark.ray_serve]

SLO = "mlperf-llama3.1-8b-server"
PROFILE = "patterns/pattern-chat"
PATTERN = "ray-serve"
RUNNING_TIMEOUT_S = 600.0


def test_ray_serve_pattern_meets_mlperf_slo_with_cost(
    operator_check: OperatorCheck,
    run_profile: RunProfile,
    pattern_table: PatternTable,
    sg_prices: PriceTable,
) -> None:
    operator_check.need("kuberay", PATTERN)
    with rayserve.serving(operator_check) as ray:
        operator_check.stop_on(PATTERN, "serving", ray.wait_running(RUNNING_TIMEOUT_S))
        held = gpus_held(operator_check.cluster.client, ray.dep.namespace)
        with ray.url("serve") as url:
            wait_serving(url)
            res = run_profile(PROFILE, url, slo=SLO, model="auto")
    s, th = res.summary, res.summary.throughput
    # a price table without this GPU product fails the test in one line (ConfigError)
    cost = cost_of(held.gpus, held.product, sg_prices, th.output_tokens_per_s, th.requests_per_s)
    data = {
        "run_dir": res.run_dir.name,
        "cost": cost.__dict__,
        "gpu_util": None,
        "gpu_holders": list(held.pods),
        "running_after_s": ray.running_after_s,
    }
    (res.run_dir / "cost.json").write_text(json.dumps(data, indent=2) + "\n")
    pattern_table.add(PATTERN, pattern_row(PATTERN, headline_of(s, SLO), cost, None), data)
    doubts = why_untrusted(res)
    operator_check.ledger.outcome(
        PATTERN,
        "benchmark through Serve's HTTP proxy and the serve Service",
        doubts,
        f"{PROFILE}: {th.requests_per_s:.2f} req/s, {th.output_tokens_per_s:.1f} output tok/s, "
        f"{held.gpus:g} GPU held; figures in the pattern section",
    )
    assert not doubts, "; ".join(doubts)
    assert s.slo is not None and s.slo.passed, slo_misses(s)
    assert cost.usd_per_million_output_tokens is not None
