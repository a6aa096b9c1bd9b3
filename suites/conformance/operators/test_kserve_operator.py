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

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from operators_checks import assess_inferenceservice
from operators_env import (
    KSERVE_UNIT,
    REAL_NODE,
    NeedOperator,
    get_custom,
    list_custom,
    namespace_state,
    pin_predictor,
    poll,
    save,
)
from operators_ledger import OperatorLedger

from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.load import RunProfile

pytestmark = [pytest.mark.kserve, pytest.mark.e2e]

SLO = "mlperf-llama3.1-8b-server"
PROFILE = "patterns/pattern-chat"
READY_TIMEOUT_S = 180.0


def _deploy(handle: ClusterHandle, deploy_unit: DeployUnit) -> Any:
    local = handle.kind == "local"
    return deploy_unit(
        KSERVE_UNIT,
        overlay="sim",
        wait=False,
        runs_containers=False,  # KServe makes the Deployment; the pin goes on the predictor
        mutate=(lambda objs: pin_predictor(objs, REAL_NODE)) if local else None,
    )


def _reconciled(handle: ClusterHandle, dep: Any, out_dir: Path) -> list[str]:
    manifest = dep.find("InferenceService")
    name = manifest["metadata"]["name"]

    def assess() -> list[str]:
        isvc = get_custom(handle, "InferenceService", dep.namespace, name)
        state = namespace_state(handle, dep.namespace)
        scaled = list_custom(handle, "ScaledObject", dep.namespace)
        seen = {"inferenceservice": isvc, "scaledobjects": scaled, **state, "nodes": []}
        save(out_dir, "reconciled", seen)
        return assess_inferenceservice(manifest, isvc, **state, scaledobjects=scaled)

    return poll(assess, READY_TIMEOUT_S)


def _first_answer(url: str, model: str, timeout_s: float = 90.0) -> tuple[str | None, float]:
    """Wait for the predictor to answer; (last problem or None, seconds waited).

    Ready can precede the first answer through the Service (seen once: connection refused
    right after Ready, while the new Service's rules were being programmed)."""
    t0 = time.monotonic()
    problems = poll(lambda: [p for p in [_chat_once(url, model)] if p], timeout_s, 1.0)
    return (problems[0] if problems else None), time.monotonic() - t0


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _chat_once(url: str, model: str) -> str | None:
    """None if one chat completion answers with a choice, else what went wrong."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    req = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        return f"chat completion through {url} failed: {exc}"
    if not answer.get("choices"):
        return f"chat completion through {url} has no choices: {str(answer)[:200]}"
    return None


@pytest.mark.conformance
def test_kserve_reconciles_inferenceservice_onto_real_node(
    sg_cluster: ClusterHandle,
    need_operator: NeedOperator,
    deploy_unit: DeployUnit,
    operator_ledger: OperatorLedger,
    sg_test_dir: Path,
) -> None:
    need_operator("kserve", "kserve")
    with _deploy(sg_cluster, deploy_unit) as dep:
        failures = _reconciled(sg_cluster, dep, sg_test_dir)
        if not failures:
            with service_url(sg_cluster, dep.namespace, "llm-predictor") as url:
                problem, waited = _first_answer(url, "llm")
            failures += [problem] if problem else []
    operator_ledger.record(
        "kserve",
        "InferenceService reconciled and serving (sim overlay)",
        "failed" if failures else "exercised",
        "; ".join(failures[:4])
        or "Ready; Deployment, Service and KEDA ScaledObject llm-predictor owned by it; pod "
        "on the real node "
        f"with 1 GPU; a chat completion answered through the Service {waited:.0f} s after "
        "those held",
    )
    assert not failures, "\n".join(failures)


@pytest.mark.benchmark
def test_kserve_pattern_meets_mlperf_slo(
    sg_cluster: ClusterHandle,
    need_operator: NeedOperator,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    operator_ledger: OperatorLedger,
    sg_test_dir: Path,
) -> None:
    need_operator("kserve", "kserve")
    with _deploy(sg_cluster, deploy_unit) as dep:
        failures = _reconciled(sg_cluster, dep, sg_test_dir)
        if failures:
            operator_ledger.record("kserve", "benchmark", "failed", "; ".join(failures[:4]))
            pytest.fail("\n".join(failures), pytrace=False)
        with service_url(sg_cluster, dep.namespace, "llm-predictor") as url:
            problem, _ = _first_answer(url, "llm")
            if problem:
                operator_ledger.record("kserve", "benchmark", "failed", problem)
                pytest.fail(problem, pytrace=False)
            res = run_profile(PROFILE, url, slo=SLO, model="auto")
    s = res.summary
    lat, th = s.latency, s.throughput
    good = "n/a" if th.goodput_per_s is None else f"{th.goodput_per_s:.2f}"
    verdict = "pass" if s.slo is not None and s.slo.passed else "FAIL"
    figures = (
        f"run {res.run_dir.name}: {th.requests_per_s:.2f} req/s, "
        f"{th.output_tokens_per_s:.0f} out tok/s, goodput {good} req/s, "
        f"TTFT p50/p99 {_ms(lat.ttft.p50)}/{_ms(lat.ttft.p99)} ms, "
        f"TPOT p99 {_ms(lat.tpot.p99)} ms, SLO {SLO} {verdict}"
    )
    operator_ledger.record(
        "kserve", "benchmark (through the predictor Service)", "exercised", figures
    )
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
