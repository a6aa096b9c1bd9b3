"""The resilience checks' pure parts: error budget, version share, version-only windows,
evictions, and the manifest shaping (no cluster, no server)."""

from __future__ import annotations

import random

import pytest

from servegate.checks.resilience.checks import (
    ErrorBudget,
    Eviction,
    VersionSample,
    assess_budget,
    assess_evictions,
    assess_only_version,
    assess_share,
    share_tolerance,
    timeline,
)
from servegate.checks.resilience.env import load_budget
from servegate.checks.resilience.k8s import (
    canary_of,
    deployment,
    model_container,
    shape,
    with_stable_track,
)
from servegate.k8s.render import render_unit, resolve_unit

BUDGET = ErrorBudget("b", 0.005)
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


def test_budget_allows_floor_of_rate_times_total() -> None:
    assert BUDGET.allowed(687) == 3 and BUDGET.allowed(199) == 0 and BUDGET.allowed(200) == 1
    assert assess_budget({"connect": 1}, 687, BUDGET, "x") == []
    out = assess_budget({"connect": 2, "http_5xx": 3}, 687, BUDGET, "rolling update")
    assert len(out) == 1
    assert "5 of 687 requests failed" in out[0] and "connect 2, http_5xx 3" in out[0]
    assert "rolling update" in out[0] and "(3 allowed)" in out[0]


def test_budget_with_no_request_fails() -> None:
    assert "sent no request" in assess_budget({}, 0, BUDGET, "x")[0]


def test_shipped_budget_file_loads() -> None:
    b = load_budget()
    assert b.name == "rollout-budget" and 0 < b.max_error_rate < 0.05


def _split(n: int, share: float, seed: int) -> list[VersionSample]:
    rng = random.Random(seed)
    return [VersionSample(i * 0.1, "v2" if rng.random() < share else "v1") for i in range(n)]


def test_share_passes_on_the_expected_split_and_fails_on_a_doubled_canary() -> None:
    share, out = assess_share(_split(200, 0.25, 1), "v2", 0.25)
    assert out == [] and share is not None and abs(share - 0.25) < share_tolerance(0.25, 200)
    share, out = assess_share(_split(200, 0.5, 2), "v2", 0.25)
    assert out and "expected 25.0%" in out[0] and share is not None and share > 0.4


def test_share_ignores_probe_errors_and_needs_enough_samples() -> None:
    samples = _split(30, 0.25, 3) + [VersionSample(9.0, None, "timeout")] * 50
    share, out = assess_share(samples, "v2", 0.25)
    assert share is None and "only 30 probe requests were answered" in out[0]


def test_tolerance_shrinks_with_samples_down_to_its_floor() -> None:
    assert share_tolerance(0.25, 50) > share_tolerance(0.25, 500) >= 0.08
    assert share_tolerance(0.25, 100_000) == 0.08


def test_only_version_after_a_time() -> None:
    samples = [VersionSample(t, "v1" if t < 5 else "v2") for t in range(12)]
    assert assess_only_version(samples, "v2", 5.0, "after") == []
    out = assess_only_version(samples, "v2", 3.0, "after the rollout")
    assert "2 of 9 responses after t=3.0s came from other versions {'v1': 2}" in out[0]
    assert "first at t=3.0s" in out[0]
    assert "only 0 probe requests" in assess_only_version(samples, "v2", 50.0, "late")[0]


def test_timeline_buckets_versions_and_errors() -> None:
    samples = [
        VersionSample(0.5, "v1"),
        VersionSample(1.5, None, "timeout"),
        VersionSample(2.1, "v2"),
    ]
    assert timeline(samples, 2.0) == [
        {"t_s": 0.0, "v1": 1, "error:timeout": 1},
        {"t_s": 2.0, "v2": 1},
    ]


def test_evictions_first_allowed_rest_refused_by_the_budget() -> None:
    good = [Eviction("a", 201), Eviction("b", 429, REFUSED)]
    assert assess_evictions(good, 2, 1) == []
    out = assess_evictions([Eviction("a", 201), Eviction("b", 201)], 2, 1)
    assert "eviction 2 of pod b was allowed" in out[0] and "PodDisruptionBudget" in out[0]
    out = assess_evictions([Eviction("a", 429, REFUSED), Eviction("b", 429, REFUSED)], 2, 1)
    assert "eviction 1 of pod a was refused" in out[0]
    out = assess_evictions([Eviction("a", 201), Eviction("b", 429, "too many requests")], 2, 1)
    assert "not by a disruption budget" in out[0]
    assert "only 1 evictions" in assess_evictions([Eviction("a", 201)], 2, 1)[0]


@pytest.fixture(scope="module")
def unit() -> list[dict[str, object]]:
    return render_unit(resolve_unit("vllm-deployment", "sim"))


def _env(objs: list[dict[str, object]]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in model_container(deployment(objs))["env"]}


def test_safe_shape_is_the_shipped_rollout_configuration(unit: list[dict[str, object]]) -> None:
    objs = shape(3, "v7", local=True)(unit)
    dep, shipped = deployment(objs), deployment(unit)
    c, c0 = model_container(dep), model_container(shipped)
    assert dep["spec"]["replicas"] == 3
    assert deployment(shape(None, "v7", local=True)(unit))["spec"]["replicas"] == 1
    # what the availability checks test is the reference's own strategy, probes and preStop
    assert dep["spec"]["strategy"] == shipped["spec"]["strategy"]
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    for key in ("readinessProbe", "startupProbe", "livenessProbe", "lifecycle"):
        assert c[key] == c0[key], key
    assert c["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}
    pod, pod0 = dep["spec"]["template"]["spec"], shipped["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == pod0["terminationGracePeriodSeconds"]
    env = _env(objs)
    assert env["SERVEGATE_SIM_MODEL_VERSION"] == "v7"
    assert env["SERVEGATE_SIM_DRAIN_S"] == _env(unit)["SERVEGATE_SIM_DRAIN_S"] == "40"
    assert "nvidia.com/gpu" not in c["resources"]["requests"]  # local: no fake GPU needed
    kinds = {o["kind"] for o in objs}
    assert "PodDisruptionBudget" in kinds and not kinds & {"ScaledObject", "NetworkPolicy"}
    assert "PodDisruptionBudget" not in {
        o["kind"] for o in shape(2, "v1", local=True, pdb=False)(unit)
    }
    # the rendered unit itself is left alone
    assert "SERVEGATE_SIM_MODEL_VERSION" not in str(unit)


def test_broken_shape_is_the_reference_before_the_fix(unit: list[dict[str, object]]) -> None:
    objs = shape(None, "v1", local=False, safe=False)(unit)
    dep = deployment(objs)
    c = model_container(dep)
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert "lifecycle" not in c and "readinessProbe" in c
    assert _env(objs)["SERVEGATE_SIM_DRAIN_S"] == "0"
    assert c["resources"]["requests"]["nvidia.com/gpu"] == 1  # not local: as the reference


def test_canary_shares_the_service_selector_not_the_deployment_selector(
    unit: list[dict[str, object]],
) -> None:
    objs = with_stable_track(shape(3, "v1", local=True)(unit))
    stable = deployment(objs)
    can = canary_of(stable, "v2", 1)
    svc = next(o for o in objs if o["kind"] == "Service")
    for d in (stable, can):
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert stable["spec"]["selector"]["matchLabels"]["track"] == "stable"
    assert can["spec"]["selector"]["matchLabels"]["track"] == "canary"
    assert can["metadata"]["name"] != stable["metadata"]["name"] and can["spec"]["replicas"] == 1
    assert _env([can])["SERVEGATE_SIM_MODEL_VERSION"] == "v2"
