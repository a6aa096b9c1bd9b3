"""The KEDA checks' test variant of the reference ScaledObjects, on the real renders."""

from __future__ import annotations

from typing import Any

import pytest

from servegate.checks.autoscaling import scenarios
from servegate.checks.autoscaling.scaledobject import (
    SCALE_DOWN_WINDOW_S,
    WATCH_LABEL,
    Knobs,
    replicas_for,
    scaledobject_variant,
    shipped_query,
    split_scaledobject,
    with_env,
)
from servegate.k8s.render import render_unit, resolve_unit


@pytest.fixture(scope="module")
def redis_unit() -> list[dict[str, Any]]:
    return render_unit(resolve_unit(str(scenarios.redis_unit()), "sim"))


@pytest.fixture(scope="module")
def prometheus_unit() -> list[dict[str, Any]]:
    return render_unit(resolve_unit("vllm-deployment", "sim"))


@pytest.mark.parametrize("overlay", ["sim", "gpu"])
def test_redis_unit_swaps_the_component_and_targets_the_deployment(overlay: str) -> None:
    objs = render_unit(resolve_unit(str(scenarios.redis_unit()), overlay))
    rest, so = split_scaledobject(objs)
    assert so["metadata"]["name"] == "model-server-redis-queue"
    assert so["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "vllm",
    }
    assert so["spec"]["triggers"][0]["type"] == "redis"
    assert not [o for o in rest if o["kind"] == "ScaledObject"]
    assert [o["metadata"]["name"] for o in rest if o["kind"] == "Deployment"] == ["vllm"]


def test_split_refuses_a_unit_without_exactly_one_scaledobject(
    redis_unit: list[dict[str, Any]],
) -> None:
    rest, so = split_scaledobject(redis_unit)
    with pytest.raises(ValueError, match="found \\[\\]"):
        split_scaledobject(rest)
    with pytest.raises(
        ValueError, match="found \\['model-server-redis-queue', 'model-server-redis-queue'\\]"
    ):
        split_scaledobject([*rest, so, so])


def test_variant_keeps_trigger_and_threshold_and_changes_the_knobs(
    redis_unit: list[dict[str, Any]],
) -> None:
    _, so = split_scaledobject(redis_unit)
    knobs = Knobs(max_replicas=3)
    out = scaledobject_variant(so, knobs, {"address": "10.244.0.1:6379", "listName": "q:ns"})
    spec = out["spec"]
    assert out["metadata"]["labels"][WATCH_LABEL[0]] == WATCH_LABEL[1]
    assert (spec["pollingInterval"], spec["cooldownPeriod"]) == (5, 30)
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 3)
    down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] == SCALE_DOWN_WINDOW_S == 10
    meta = spec["triggers"][0]["metadata"]
    assert meta == {"address": "10.244.0.1:6379", "listName": "q:ns", "listLength": "5"}
    assert so["spec"]["cooldownPeriod"] == 600, "the rendered object must not be modified"


def test_prometheus_variant_replaces_query_and_server(
    prometheus_unit: list[dict[str, Any]],
) -> None:
    _, so = split_scaledobject(prometheus_unit)
    query = 'sum(vllm:num_requests_waiting{namespace="sg-x"})'
    out = scaledobject_variant(so, Knobs(), {"serverAddress": "http://127.0.0.1:1", "query": query})
    meta = out["spec"]["triggers"][0]["metadata"]
    assert meta["query"] == query and meta["threshold"] == "5"
    assert out["spec"]["scaleTargetRef"]["name"] == "vllm"


def test_env_reaches_the_model_server_only(prometheus_unit: list[dict[str, Any]]) -> None:
    objs = with_env(prometheus_unit, {"SERVEGATE_SIM_MAX_NUM_SEQS": "2"})
    (dep,) = [o for o in objs if o["kind"] == "Deployment"]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SERVEGATE_SIM_MAX_NUM_SEQS"]["value"] == "2"
    assert "HF_TOKEN" in env, "existing variables are kept"
    (orig,) = [o for o in prometheus_unit if o["kind"] == "Deployment"]
    orig_env = {e["name"] for e in orig["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "SERVEGATE_SIM_MAX_NUM_SEQS" not in orig_env


def test_the_check_triggers_on_the_shipped_query_confined(
    prometheus_unit: list[dict[str, Any]],
) -> None:
    _, so = split_scaledobject(prometheus_unit)
    # the component's query after the overlay's replacement: its Service's series, summed
    shipped = so["spec"]["triggers"][0]["metadata"]["query"]
    assert shipped == 'sum(vllm:num_requests_waiting{service="vllm"})'
    assert shipped_query(so, "sg-x") == (
        'sum(vllm:num_requests_waiting{service="vllm",namespace="sg-x"})'
    )


@pytest.mark.parametrize(
    ("items", "per", "want"), [(0, 5, 1), (5, 5, 1), (6, 5, 2), (20, 5, 4), (100, 5, 4)]
)
def test_replicas_follow_ceil_of_items_per_replica_within_bounds(
    items: int, per: int, want: int
) -> None:
    assert replicas_for(items, per, Knobs(max_replicas=4)) == want
