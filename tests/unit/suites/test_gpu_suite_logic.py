"""The GPU checks' pure parts on nodes built from the fleet files (no cluster, no client).

The fake Node objects are the ones ``servegate cluster up`` creates, so the scenario builder
and the assess functions are exercised on the same shapes the e2e suite sees.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servegate.checks.gpu import model as m
from servegate.checks.gpu.assess import (
    QuotaOutcome,
    assess_advertised,
    assess_binpacking,
    assess_quota,
)
from servegate.checks.gpu.objects import (
    OBJECTS,
    binpack_workload,
    placement_scenario,
    priority_classes,
)
from servegate.cluster.kwok import node_manifests
from servegate.config.fleet import load_fleet
from servegate.paths import DEFAULT_FLEET

FLEETS = {"default": DEFAULT_FLEET, "sharing": OBJECTS / "fleet-sharing.yaml"}


def _nodes(fleet: str) -> list[dict[str, Any]]:
    return node_manifests(load_fleet(FLEETS[fleet]), "v1.32.13")


def _bound(pod: dict[str, Any], node: str) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    pod["spec"]["nodeName"] = node
    pod["status"] = {"phase": "Running"}
    return pod


@pytest.mark.parametrize("fleet", sorted(FLEETS))
def test_fleet_nodes_advertise_what_their_labels_say(fleet: str) -> None:
    assert assess_advertised(_nodes(fleet)) == []


def test_placement_scenario_covers_each_aspect_the_fleet_has() -> None:
    assert placement_scenario(_nodes("default"), []).missing == {}
    no_sharing = [n for n in _nodes("default") if m.sharing(n) != "time-slicing"]
    reduced = placement_scenario(no_sharing, [])
    assert set(reduced.missing) == {"time-slicing"}
    assert "nvidia.com/gpu.sharing-strategy=time-slicing" in reduced.missing["time-slicing"]
    sharing = placement_scenario(_nodes("sharing"), [])
    assert sharing.missing == {}
    aspects = {m.annots(p)[m.ASPECT] for p in sharing.pods}
    assert aspects == {"affinity", "mig", "time-slicing", "spot"}
    for pod in sharing.pods:  # exactly what the device plugin needs: requests == limits
        assert m.pod_requests(pod) == m.pod_requests(pod, "limits") != {}


def test_no_gpu_fleet_gives_a_reason_naming_what_is_missing() -> None:
    nodes = [n for n in _nodes("default") if not m.is_gpu_node(n)]
    reason = m.missing_gpu_reason(nodes)
    assert reason is not None and m.PRESENT in reason
    assert m.missing_gpu_reason(_nodes("default")) is None


def test_binpack_workload_tiles_free_gpus_exactly_and_perfect_packing_passes() -> None:
    nodes = _nodes("sharing")
    target, work = binpack_workload(nodes, [])
    assert {m.sharing(n) for n in target} == {"exclusive"}
    assert all(not m.hard_taints(n) for n in target)
    sizes = [int(m.pod_requests(p)[m.GPU]) for p in work]
    assert sizes == sorted(sizes, reverse=True)
    assert sum(sizes) == sum(int(m.allocatable(n)[m.GPU]) for n in target)
    # place first-fit-decreasing by hand: every node filled, nothing stranded
    free = {m.name(n): int(m.allocatable(n)[m.GPU]) for n in target}
    placed = []
    for pod, size in zip(work, sizes, strict=True):
        node = next(n for n, f in free.items() if f >= size)
        free[node] -= size
        placed.append(_bound(pod, node))
    report, failures = assess_binpacking(target, placed, placed)
    assert failures == []
    assert report["allocated_fraction"] == 1.0 and report["fragmentation"] == 0.0


def test_binpacking_reports_fragmentation_when_a_large_pod_is_stranded() -> None:
    target, work = binpack_workload(_nodes("default"), [])
    slivers = [_bound(work[-1], m.name(n)) for n in target]  # 1 GPU on every node
    big = copy.deepcopy(work[0])
    big["spec"]["containers"][0]["resources"]["requests"][m.GPU] = "8"
    big["spec"]["containers"][0]["resources"]["limits"][m.GPU] = "8"
    report, failures = assess_binpacking(target, slivers, [*slivers, big])
    assert report["pods_stranded_by_fragmentation"] == 1
    assert report["largest_free_block"] == 7
    assert failures and "stranded by fragmentation" in failures[0]


@pytest.mark.parametrize(
    ("outcome", "needle"),
    [
        (QuotaOutcome(admitted=True), "was admitted"),
        (QuotaOutcome(admitted=False, status=500, message="boom"), "HTTP 500"),
        (QuotaOutcome(admitted=False, status=403, message="forbidden: nope"), "exceeded quota"),
    ],
)
def test_quota_assess_names_the_problem(outcome: QuotaOutcome, needle: str) -> None:
    failures = assess_quota(outcome)
    assert failures and needle in "\n".join(failures)


def test_quota_assess_passes_on_the_api_servers_refusal() -> None:
    message = (
        'pods "over-quota" is forbidden: exceeded quota: gpu-quota, requested: '
        "requests.nvidia.com/gpu=2, used: requests.nvidia.com/gpu=1, limited: "
        "requests.nvidia.com/gpu=2"
    )
    assert assess_quota(QuotaOutcome(admitted=False, status=403, message=message)) == []


def test_priority_classes_are_named_per_run_and_high_is_higher() -> None:
    high, low = priority_classes("20261128-000000-abcdef")
    assert high["metadata"]["name"].startswith("sg-20261128-000000-abcdef-")
    assert high["value"] > low["value"] and low["preemptionPolicy"] == "Never"


def test_garbage_quantity_is_a_one_line_error() -> None:
    node = copy.deepcopy(_nodes("default")[0])
    node["status"]["allocatable"][m.GPU] = "eight"
    failures = assess_advertised([node])
    assert failures == [f"node {m.name(node)}: allocatable: 'eight' is not a quantity"]


def _node_with(labels: dict[str, str], resources: dict[str, int]) -> dict[str, Any]:
    alloc = {k: str(v) for k, v in resources.items()}
    return {"metadata": {"name": "n", "labels": labels}, "status": {"allocatable": alloc}}


def test_renamed_time_slicing_beside_exclusive_gpus_is_consistent() -> None:
    node = _node_with(
        {
            m.PRESENT: "true",
            m.COUNT: "4",
            m.REPLICAS: "4",
            m.SHARING: "time-slicing",
            m.PRODUCT: "NVIDIA-L4",
        },
        {m.GPU: 2, m.SHARED: 8},  # 2 whole GPUs + 2 GPUs as 4 replicas each
    )
    assert assess_advertised([node]) == []
    assert m.modes(node) == {"exclusive", "time-slicing"}


@pytest.mark.parametrize(("count", "ok"), [("9", True), ("5", False)])
def test_a_node_offering_every_mode_at_once_must_count_every_gpu(count: str, ok: bool) -> None:
    """4 whole GPUs, 16 renamed time-sliced replicas (4 per GPU) and 7 MIG 1g slices are
    9 physical GPUs by the device plugin's rules, whatever the node's count label says."""
    node = _node_with(
        {
            m.PRESENT: "true",
            m.COUNT: count,
            m.REPLICAS: "4",
            m.SHARING: "time-slicing",
            m.MIG_STRATEGY: "mixed",
            m.PRODUCT: "NVIDIA-A100-SXM4-40GB",
        },
        {m.GPU: 4, m.SHARED: 16, "nvidia.com/mig-1g.5gb": 7},
    )
    assert m.modes(node) == {"exclusive", "mig", "time-slicing"}
    failures = assess_advertised([node])
    if ok:
        assert failures == []
    else:
        assert len(failures) == 1
        assert f"{m.COUNT}=5 but allocatable implies 9 physical GPUs" in failures[0]
        assert f"{m.SHARED}=16 time-sliced replicas" in failures[0]
        assert "MIG slices: 7 compute slices = 1 GPUs" in failures[0]
