"""The first end-to-end slice: one serving pattern, deployed, loaded, measured, torn down.

Setup: render the vLLM Deployment pattern (the sim overlay by default, gpu on an existing
cluster), apply it into a fresh namespace of this run, wait for readiness. Assess: reach the
Service from this machine, run the 30-second smoke profile, check TTFT and throughput against
loose SLOs. Teardown (always): events and logs saved into the results, namespace deleted.
With ``--sg-overlay engine`` (llama.cpp's llama-server) each request is also checked against
the engine's own timings and token counts, and the agreement table goes into the session
index.
"""

from __future__ import annotations

import pytest

from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.load import RunProfile
from servegate.harness.settings import Settings
from servegate.metrics import engine_check
from servegate.metrics.io import read_records
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.smoke, pytest.mark.e2e, pytest.mark.vllm_deployment]

# Loose: the smoke tier proves the path works, the benchmark tier judges performance.
TTFT_P99_MS = 2000.0
MIN_OUTPUT_TOKENS_PER_S = 10.0


def test_vllm_deployment_sim_serves_and_meets_loose_slo(
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    sg_settings: Settings,
    sg_results: RunResults,
) -> None:
    # The sim overlay unless --sg-overlay says otherwise (gpu on an existing cluster).
    with deploy_unit("vllm-deployment", timeout_s=900) as dep:
        svc = dep.find("Service")["metadata"]["name"]
        with service_url(sg_cluster, dep.namespace, svc) as url:
            # a few requests: the port-forward carries them (--sg-load-from cluster overrides)
            # llama-server closes every streamed connection: its smoke profile reconnects
            profile = "smoke-engine" if sg_settings.overlay == "engine" else "smoke"
            res = run_profile(profile, url, model="auto", prefer="host")
    s = res.summary
    assert s.counts.succeeded > 0, f"no successful request; errors: {s.counts.errors}"
    assert (s.counts.error_rate or 0.0) <= 0.01, f"errors by kind: {s.counts.errors}"
    assert s.latency.ttft.p99 is not None and s.latency.ttft.p99 <= TTFT_P99_MS, (
        f"TTFT p99 {s.latency.ttft.p99} ms > {TTFT_P99_MS} ms"
    )
    assert s.throughput.output_tokens_per_s >= MIN_OUTPUT_TOKENS_PER_S, (
        f"output {s.throughput.output_tokens_per_s:.1f} tok/s < {MIN_OUTPUT_TOKENS_PER_S}"
    )
    if sg_settings.overlay == "engine":
        agree = engine_check.agreement(read_records(res.run_dir))
        assert agree is not None, "the engine's responses carried no timings"
        sg_results.section(
            "engine-agreement-smoke",
            "Engine cross-check (smoke): servegate vs llama-server's own timings",
            engine_check.markdown(agree),
            data={
                "requests": agree.requests,
                "ttft_minus_prompt_ms": agree.ttft_minus_prompt_ms.model_dump(),
                "e2e_minus_engine_ms": agree.e2e_minus_engine_ms.model_dump(),
            },
        )
        assert agree.violations == [], agree.violations[:3]
        assert agree.token_mismatches == [], agree.token_mismatches[:3]
