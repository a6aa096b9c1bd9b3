"""KServe's controller turns the InferenceService into a serving predictor; benchmarked.

Setup: the ``kserve`` add-on (local cluster: KServe v0.16.0's manager built from the Go
module proxy, RawDeployment mode) and the kserve-inferenceservice unit, sim overlay (the
simulator as a custom predictor container, 1 GPU), its predictor pinned to the real node.
Assess, conformance: the InferenceService is Ready; KServe created and owns Deployment and
Service ``llm-predictor``; its pods run on the real node with the manifest's GPU request; one
chat completion through the Service answers. Assess, benchmark: the per-pattern chat profile
through the Service against the MLPerf llama3.1-8b server SLO (p99 TTFT 2 s, p99 TPOT 100 ms).
Teardown: the deploy fixture saves events and logs and deletes the namespace.
"""

from __future__ import annotations

import pytest

from servegate.checks.operators import kserve
from servegate.checks.operators.env import OperatorCheck
from servegate.harness.cluster import service_url
from servegate.harness.load import RunProfile

pytestmark = [pytest.mark.kserve, pytest.mark.e2e]

SLO = "mlperf-llama3.1-8b-server"
PROFILE = "patterns/pattern-chat"
READY_TIMEOUT_S = 180.0


@pytest.mark.conformance
def test_kserve_reconciles_inferenceservice_onto_real_node(operator_check: OperatorCheck) -> None:
    operator_check.need("kserve", "kserve")
    with kserve.deploy(operator_check) as dep:
        failures, waited = kserve.serving(operator_check, dep, READY_TIMEOUT_S)
    operator_check.ledger.outcome(
        "kserve",
        "InferenceService reconciled and serving (sim overlay)",
        failures,
        "Ready; Deployment, Service and KEDA ScaledObject llm-predictor owned by it; pod "
        "on the real node "
        f"with 1 GPU; a chat completion answered through the Service {waited:.0f} s after "
        "those held",
    )
    assert not failures, "\n".join(failures)


@pytest.mark.benchmark
def test_kserve_pattern_meets_mlperf_slo(
    operator_check: OperatorCheck, run_profile: RunProfile
) -> None:
    operator_check.need("kserve", "kserve")
    with kserve.deploy(operator_check) as dep:
        failures = kserve.reconciled(operator_check, dep, READY_TIMEOUT_S)
        operator_check.stop_on("kserve", "benchmark", failures)
        with service_url(operator_check.cluster, dep.namespace, kserve.PREDICTOR) as url:
            problem, _ = kserve.first_answer(url)
            operator_check.stop_on("kserve", "benchmark", [problem] if problem else [])
            res = run_profile(PROFILE, url, slo=SLO, model="auto")
    operator_check.ledger.record(
        "kserve", "benchmark (through the predictor Service)", "exercised", kserve.figures(res, SLO)
    )
    s = res.summary
    assert not res.problems, f"load engine problems: {res.problems}"
    assert s.counts.succeeded > 0, f"no successful request; errors by kind: {s.counts.errors}"
    assert (s.counts.error_rate or 0.0) <= 0.01, f"errors by kind: {s.counts.errors}"
    assert "past_generator_ceiling" not in s.flag_codes(), "figures past the generator's ceiling"
    assert s.slo is not None and s.slo.passed, (
        "; ".join(
            f"{v.key} observed {v.observed} > limit {v.limit}"
            for v in s.slo.verdicts
            if not v.passed
        )
        if s.slo
        else "no SLO verdict"
    )
