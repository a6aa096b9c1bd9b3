"""The first end-to-end slice: one serving pattern, deployed, loaded, measured, torn down.

Setup: render the vLLM Deployment pattern (the sim overlay by default, gpu on an existing
cluster), apply it into a fresh namespace of this run, wait for readiness. Assess: reach the
Service from this machine, run the 30-second smoke profile, check TTFT and throughput against
loose SLOs. Teardown (always): events and logs saved into the results, namespace deleted.
"""

from __future__ import annotations

import pytest

from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.load import RunProfile

pytestmark = [pytest.mark.smoke, pytest.mark.e2e, pytest.mark.vllm_deployment]

# Loose: the smoke tier proves the path works, the benchmark tier judges performance.
TTFT_P99_MS = 2000.0
MIN_OUTPUT_TOKENS_PER_S = 10.0


def test_vllm_deployment_sim_serves_and_meets_loose_slo(
    sg_cluster: ClusterHandle, deploy_unit: DeployUnit, run_profile: RunProfile
) -> None:
    # The sim overlay unless --sg-overlay says otherwise (gpu on an existing cluster).
    with deploy_unit("vllm-deployment", timeout_s=900) as dep:
        svc = dep.find("Service")["metadata"]["name"]
        with service_url(sg_cluster, dep.namespace, svc) as url:
            res = run_profile("smoke", url, model="auto")
    s = res.summary
    assert s.counts.succeeded > 0, f"no successful request; errors: {s.counts.errors}"
    assert (s.counts.error_rate or 0.0) <= 0.01, f"errors by kind: {s.counts.errors}"
    assert s.latency.ttft.p99 is not None and s.latency.ttft.p99 <= TTFT_P99_MS, (
        f"TTFT p99 {s.latency.ttft.p99} ms > {TTFT_P99_MS} ms"
    )
    assert s.throughput.output_tokens_per_s >= MIN_OUTPUT_TOKENS_PER_S, (
        f"output {s.throughput.output_tokens_per_s:.1f} tok/s < {MIN_OUTPUT_TOKENS_PER_S}"
    )
