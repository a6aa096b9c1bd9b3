"""The GPU checks' pure parts on nodes built from the fleet files (no cluster, no client).

The fake Node objects are the ones ``servegate cluster up`` creates, so the scenario builder
and the assess functions are exercised on the same shapes the e2e suite sees.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import gpu_model as m
import pytest
from gpu_checks import QuotaOutcome, assess_advertised, assess_binpacking, assess_quota
from gpu_objects import binpack_workload, placement_scenario, priority_classes

from servegate.cluster.kwok import node_manifests
from servegate.config.fleet import load_fleet

ROOT = Path(__file__).resolve().parents[3]
FLEETS = {
    "default": ROOT / "fleets" / "default.yaml",
    "sharing": ROOT / "suites" / "conformance" / "gpu" / "objects" / "fleet-sharing.yaml",
}


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
    default = placement_scenario(_nodes("default"), [])
    assert set(default.missing) == {"time-slicing"}
    assert "nvidia.com/gpu.sharing-strategy=time-slicing" in default.missing["time-slicing"]
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
