"""The KServe check's steps: the InferenceService deployed, reconciled, answering, measured.

KServe (RawDeployment mode) turns the InferenceService ``llm`` into Deployment and Service
``llm-predictor``; on the local cluster the predictor is pinned to the real node, so the
simulator in it serves. Ready can precede the first answer through the Service, so the first
chat completion is awaited separately.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request

from servegate.checks.operators.checks import assess_inferenceservice
from servegate.checks.operators.env import (
    KSERVE_UNIT,
    OperatorCheck,
    get_custom,
    list_custom,
    namespace_state,
    pin_predictor_to,
    save,
    until_passes,
)
from servegate.harness.cluster import service_url
from servegate.harness.deploy import Deployed
from servegate.harness.load import LoadResult

PREDICTOR = "llm-predictor"
MODEL = "llm"
FIRST_ANSWER_S = 90.0


def deploy(check: OperatorCheck) -> contextlib.AbstractContextManager[Deployed]:
    """The kserve unit's sim overlay; KServe makes the Deployment, so the pin to the nodes
    that run containers (read from the API, where some nodes are simulated) goes on the
    predictor."""
    nodes = check.cluster.container_nodes
    pin = (lambda objs: pin_predictor_to(objs, nodes)) if nodes else None
    return check.deploy_sim(KSERVE_UNIT, pin)


def reconciled(check: OperatorCheck, dep: Deployed, timeout_s: float) -> list[str]:
    """Wait until KServe reconciled the InferenceService as its manifest asks (Ready, predictor
    Deployment and Service owned by it, pods on the real node with the manifest's GPUs); the
    failures of the last look. What was seen is saved as ``reconciled.json``."""
    manifest = dep.find("InferenceService")
    name = manifest["metadata"]["name"]

    def assess() -> list[str]:
        isvc = get_custom(check.cluster, "InferenceService", dep.namespace, name)
        state = namespace_state(check.cluster, dep.namespace)
        scaled = list_custom(check.cluster, "ScaledObject", dep.namespace)
        seen = {"inferenceservice": isvc, "scaledobjects": scaled, **state, "nodes": []}
        save(check.out_dir, "reconciled", seen)
        return assess_inferenceservice(manifest, isvc, **state, scaledobjects=scaled)

    return until_passes(assess, timeout_s)


def serving(check: OperatorCheck, dep: Deployed, timeout_s: float) -> tuple[list[str], float]:
    """Reconciled within ``timeout_s``, then one chat completion answered through the predictor
    Service: the failures, and the seconds the answer took after reconciling (0 if none)."""
    failures = reconciled(check, dep, timeout_s)
    waited = 0.0
    if not failures:
        with service_url(check.cluster, dep.namespace, PREDICTOR) as url:
            problem, waited = first_answer(url)
        failures += [problem] if problem else []
    return failures, waited


def first_answer(url: str, timeout_s: float = FIRST_ANSWER_S) -> tuple[str | None, float]:
    """Wait for the predictor to answer; (last problem or None, seconds waited).

    Ready can precede the first answer through the Service (seen once: connection refused
    right after Ready, while the new Service's rules were being programmed)."""
    t0 = time.monotonic()
    problems = until_passes(lambda: [p for p in [chat_once(url, MODEL)] if p], timeout_s, 1.0)
    return (problems[0] if problems else None), time.monotonic() - t0


def chat_once(url: str, model: str) -> str | None:
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


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def figures(res: LoadResult, slo: str) -> str:
    """The benchmark's figures in one line, for the operators section."""
    s = res.summary
    lat, th = s.latency, s.throughput
    good = "n/a" if th.goodput_per_s is None else f"{th.goodput_per_s:.2f}"
    verdict = "pass" if s.slo is not None and s.slo.passed else "FAIL"
    return (
        f"run {res.run_dir.name}: {th.requests_per_s:.2f} req/s, "
        f"{th.output_tokens_per_s:.0f} out tok/s, goodput {good} req/s, "
        f"TTFT p50/p99 {_ms(lat.ttft.p50)}/{_ms(lat.ttft.p99)} ms, "
        f"TPOT p99 {_ms(lat.tpot.p99)} ms, SLO {slo} {verdict}"
    )
