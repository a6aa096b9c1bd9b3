"""On a cluster servegate did not make, a rollout check says before deploying that its pods'
GPUs are not free, instead of waiting out the readiness deadline with pods Pending."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from servegate.checks.resilience import env
from servegate.checks.resilience.env import Resil
from servegate.checks.resilience.k8s import peak_pods
from servegate.errors import MissingCapability
from servegate.k8s.nodes import gpu_headroom, pod_gpus, pods_that_fit


def gpu_pod(node: str, gpus: int, phase: str = "Running", leaving: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"p-{node}-{gpus}"}
    if leaving:
        meta["deletionTimestamp"] = "2026-12-05T05:00:00Z"
    return {
        "metadata": meta,
        "spec": {
            "nodeName": node,
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}],
        },
        "status": {"phase": phase},
    }


def node(name: str, gpus: int) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}}}


def test_a_pod_holds_its_containers_gpus_or_its_largest_init_containers() -> None:
    spec = {
        "containers": [
            {"resources": {"limits": {"nvidia.com/gpu": 2}}},
            {"resources": {"requests": {"nvidia.com/gpu": "1"}}},  # no limit: the request
            {"resources": {"requests": {"cpu": "1"}}},
        ],
        "initContainers": [{"resources": {"limits": {"nvidia.com/gpu": 4}}}],
    }
    assert pod_gpus(spec) == 4
    spec["initContainers"] = []
    assert pod_gpus(spec) == 3
    assert pod_gpus({"containers": [{}]}) == 0


def test_free_gpus_are_allocatable_less_what_live_pods_hold() -> None:
    pods = [
        gpu_pod("a", 2),
        gpu_pod("a", 1, phase="Succeeded"),  # finished: holds nothing
        gpu_pod("a", 3, leaving=True),  # being deleted: about to be free
        gpu_pod("b", 1, phase="Pending"),  # bound: the scheduler counts it
        gpu_pod("kwok-1", 8),  # not a node that runs containers
    ]
    free = gpu_headroom([node("a", 8), node("b", 1)], pods)
    assert free == {"a": 6, "b": 0}
    assert pods_that_fit(free, 1) == 6 and pods_that_fit(free, 4) == 1
    assert pods_that_fit({"a": 3, "b": 3}, 2) == 2  # per node, not the sum


@pytest.mark.parametrize(
    ("strategy", "rolls", "extra", "peak"),
    [
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, True, 0, 3),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}}, True, 0, 3),
        ({}, True, 0, 3),  # Kubernetes' default surge: 25% of 2, rounded up
        ({"type": "Recreate"}, True, 0, 2),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, False, 1, 3),  # canary
    ],
)
def test_peak_pods(strategy: dict[str, Any], rolls: bool, extra: int, peak: int) -> None:
    dep = {"spec": {"replicas": 2, "strategy": strategy}}
    assert peak_pods(dep, rolls, extra) == peak


def resil(monkeypatch: pytest.MonkeyPatch, kind: str, nodes: list[Any], pods: list[Any]) -> Resil:
    pod = {"containers": [{"resources": {"limits": {"nvidia.com/gpu": 1}}}]}
    unit = [{"kind": "Deployment", "spec": {"replicas": 3, "template": {"spec": pod}}}]
    monkeypatch.setattr("servegate.k8s.render.resolve_unit", lambda u, o: u)
    monkeypatch.setattr("servegate.k8s.render.render_unit", lambda path: unit)
    core = SimpleNamespace(
        list_node=lambda: SimpleNamespace(items=nodes),
        list_pod_for_all_namespaces=lambda: SimpleNamespace(items=pods),
    )
    api = SimpleNamespace(sanitize_for_serialization=lambda o: o)
    handle = SimpleNamespace(
        kind=kind, client=SimpleNamespace(core=core, api_client=api), container_nodes=("real",)
    )
    return Resil(handle, None, None, None, None, None)  # type: ignore[arg-type]


def test_the_canary_that_does_not_fit_is_a_missing_capability_before_deploying(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nodes = [node("real", 4), node("kwok-1", 8)]
    r = resil(monkeypatch, "existing", nodes, [gpu_pod("real", 1)])
    with pytest.raises(MissingCapability, match=r"up to 4 model-server pods of 1 GPU.*real 3"):
        r.need_gpus(lambda objs: objs, rolls=False, extra=1)
    r.need_gpus(lambda objs: objs, rolls=False)  # 3 pods fit in the 3 free


def test_servegates_own_clusters_and_unlistable_pods_are_not_judged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kubernetes.client.exceptions import ApiException

    resil(monkeypatch, "local", [node("real", 0)], []).need_gpus(lambda o: o, rolls=True)

    def forbidden() -> Any:
        raise ApiException(status=403, reason="Forbidden")

    r = resil(monkeypatch, "existing", [node("real", 0)], [])
    r.cluster.client.core.list_pod_for_all_namespaces = forbidden  # type: ignore[attr-defined]
    assert env.free_gpus(r.cluster) is None
    r.need_gpus(lambda o: o, rolls=True)
