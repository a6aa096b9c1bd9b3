"""Every GPU check, shown able to fail: each Assess function of suites/conformance/gpu is fed a
deliberately broken state and must report it with a message naming what is wrong.

Broken states are built on the cluster where it can hold them (kwok nodes run whatever is
bound to them with ``spec.nodeName``, bypassing the scheduler as a buggy controller would; a
quota left out; a high-priority pod without its PriorityClass) and otherwise from the nodes the
cluster serves, altered in memory (a node label lying about its product or count). Each test
also checks that the same assess passes on the unbroken counterpart, so the failure is due to
the break and nothing else.
"""

from __future__ import annotations

import copy

import pytest

from servegate.checks.gpu import model as m
from servegate.checks.gpu.assess import (
    assess_advertised,
    assess_allocation,
    assess_binpacking,
    assess_placement,
    assess_preemption,
    assess_quota,
)
from servegate.checks.gpu.devices import assess_devices, devices_setup
from servegate.checks.gpu.model import Obj
from servegate.checks.gpu.namespace import GpuNamespace, read_state
from servegate.checks.gpu.objects import gpu_pod, hostname, pin_to_hosts, schedulable
from servegate.checks.gpu.setup import preemption_setup, quota_setup
from servegate.harness.cluster import ClusterHandle

pytestmark = [pytest.mark.e2e]

A100 = "NVIDIA-A100-SXM4-80GB"
H100 = "NVIDIA-H100-80GB-HBM3"


def _fake(nodes: list[Obj], sharing: str, spot: bool = False) -> list[Obj]:
    """Simulated (kwok) GPU nodes of one kind: only those accept any pod bound to them."""
    found = [
        n
        for n in nodes
        if m.is_simulated(n)
        and m.is_gpu_node(n)
        and m.sharing(n) == sharing
        and m.is_spot(n) == spot
    ]
    if not found:
        pytest.skip(f"meta-test needs a simulated (kwok) {sharing}{' spot' if spot else ''} node")
    return found


def _bind(ns: GpuNamespace, pod: Obj, node: Obj) -> None:
    pod["spec"]["nodeName"] = m.name(node)
    ns.create(pod)


def _shown(failures: list[str]) -> list[str]:
    """The failures, printed (``-s`` shows what a user of the check would read)."""
    print("\nreported:\n" + "\n".join(failures))
    return failures


def _fails(failures: list[str], *needles: str) -> None:
    assert failures, "the check passed on a broken state"
    text = "\n".join(failures)
    for needle in needles:
        assert needle in text, f"{needle!r} not in the failure message:\n{text}"


def _exclusive_by_product(nodes: list[Obj], product: str) -> Obj:
    for n in _fake(nodes, "exclusive"):
        if m.labels(n).get(m.PRODUCT) == product and schedulable(n):
            return n
    pytest.skip(f"meta-test needs a simulated untainted {product} node")


# Check 1 ------------------------------------------------------------------------------------


def test_advertised_fails_on_a_node_lying_about_its_gpu_count(gpu_cluster: ClusterHandle) -> None:
    original = _fake(read_state(gpu_cluster.client).nodes, "exclusive")[0]
    assert assess_advertised([original]) == []
    node = copy.deepcopy(original)
    node["metadata"]["labels"][m.COUNT] = "3"
    _fails(assess_advertised([node]), m.name(node), f"{m.COUNT}=3", "implies 8 physical GPUs")


def test_advertised_fails_on_a_node_lying_about_its_product(gpu_cluster: ClusterHandle) -> None:
    nodes = read_state(gpu_cluster.client).nodes
    original = _exclusive_by_product(nodes, A100)
    assert assess_advertised([original]) == []
    node = copy.deepcopy(original)
    node["metadata"]["labels"][m.PRODUCT] = H100  # an A100 (ampere, 81920 MiB) claiming H100
    _fails(assess_advertised([node]), f"{m.PRODUCT}={H100} is hopper", "does not match")


def test_advertised_fails_on_mig_and_time_slicing_lies(gpu_cluster: ClusterHandle) -> None:
    nodes = read_state(gpu_cluster.client).nodes
    assert assess_advertised([_fake(nodes, "mig")[0]]) == []
    mig = copy.deepcopy(_fake(nodes, "mig")[0])
    mig["metadata"]["labels"][m.COUNT] = "1"  # 56 1g slices cannot come from one GPU
    _fails(assess_advertised([mig]), f"{m.COUNT}=1", "MIG slices: 56 compute slices = 8 GPUs")
    shared = [n for n in nodes if m.sharing(n) == "time-slicing"]
    if shared:
        assert assess_advertised([shared[0]]) == []
        lie = copy.deepcopy(shared[0])
        lie["metadata"]["labels"][m.REPLICAS] = "2"
        _fails(assess_advertised([lie]), "time-sliced replicas")


# Checks 2 and 3 (pods bound past the scheduler) ----------------------------------------------


def test_allocation_fails_on_overcommit_and_wrong_product(
    gpu_cluster: ClusterHandle, gpu_ns: GpuNamespace
) -> None:
    nodes = read_state(gpu_cluster.client).nodes
    a100 = _exclusive_by_product(nodes, A100)
    size = int(m.allocatable(a100)[m.GPU])
    # A pod that wanted an H100 but has no affinity, and a second one over-filling the node.
    wants_h100 = gpu_pod("no-affinity", {m.GPU: size}, expect={m.EXPECT_PRODUCTS: H100})
    _bind(gpu_ns, wants_h100, a100)
    _bind(gpu_ns, gpu_pod("overcommit", {m.GPU: 1}), a100)
    state = read_state(gpu_cluster.client)
    failures = _shown(assess_allocation(state.nodes, state.pods, state.in_namespace(gpu_ns.name)))
    _fails(failures, f"node {m.name(a100)}: pods request {size + 1}", "over-committed")
    _fails(failures, "pod no-affinity", f"but it required one of ['{H100}']")


def test_placement_fails_on_missing_toleration_and_wrong_sharing(
    gpu_cluster: ClusterHandle, gpu_ns: GpuNamespace
) -> None:
    nodes = read_state(gpu_cluster.client).nodes
    spot = _fake(nodes, "exclusive", spot=True)[0]
    exclusive = _exclusive_by_product(nodes, A100)
    pods = [
        (gpu_pod("no-toleration", {m.GPU: 1}, expect={m.EXPECT_SPOT: "never"}), spot),
        (gpu_pod("mig-elsewhere", {m.GPU: 1}, expect={m.EXPECT_SHARING: "mig"}), exclusive),
        (
            gpu_pod("spot-elsewhere", {m.GPU: 1}, expect={m.EXPECT_SPOT: "required"}),
            exclusive,
        ),
        (gpu_pod("selector-ignored", {m.GPU: 1}, node_selector={m.PRODUCT: H100}), exclusive),
    ]
    for pod, node in pods:
        _bind(gpu_ns, pod, node)
    state = read_state(gpu_cluster.client)
    failures = _shown(assess_placement(state.nodes, state.in_namespace(gpu_ns.name)))
    _fails(failures, "pod no-toleration", "does not tolerate taint spot=true:NoSchedule")
    _fails(failures, "landed on a spot node without asking")
    _fails(failures, "pod mig-elsewhere", "wanted a mig GPU, the node is exclusive")
    _fails(failures, "pod spot-elsewhere", "is not on a spot node")
    _fails(failures, "pod selector-ignored", f"violates nodeSelector {m.PRODUCT}={H100}")


# Check 4 --------------------------------------------------------------------------------------


def test_quota_fails_when_the_quota_is_not_applied(gpu_ns: GpuNamespace) -> None:
    _fails(_shown(assess_quota(quota_setup(gpu_ns, with_quota=False))), "was admitted")


# Check 5 --------------------------------------------------------------------------------------


def test_preemption_fails_without_the_priority_class(
    gpu_cluster: ClusterHandle, gpu_ns: GpuNamespace
) -> None:
    run = preemption_setup(gpu_ns, gpu_cluster.scope.run_id, with_priority=False)
    failures = _shown(assess_preemption(run.high, run.low_before, run.low_after))
    _fails(failures, "PriorityClass missing or not applied", "no lower-priority pod was preempted")
    _fails(failures, "high-priority pod high-0 not scheduled")


# Check 6 --------------------------------------------------------------------------------------


def test_binpacking_fails_on_a_fragmented_fleet(
    gpu_cluster: ClusterHandle, gpu_ns: GpuNamespace
) -> None:
    nodes = [n for n in _fake(read_state(gpu_cluster.client).nodes, "exclusive") if schedulable(n)]
    for i, node in enumerate(nodes):  # one GPU taken on every node: no node is whole any more
        _bind(gpu_ns, gpu_pod(f"sliver-{i}", {m.GPU: 1}), node)
    size = max(int(m.allocatable(n)[m.GPU]) for n in nodes)
    big = pin_to_hosts(gpu_pod("whole-node", {m.GPU: size}), [hostname(n) for n in nodes])
    gpu_ns.create(big)
    gpu_ns.wait_settled(["whole-node"])
    state = read_state(gpu_cluster.client)
    names = {m.name(n) for n in nodes}
    target = [n for n in state.nodes if m.name(n) in names]
    report, failures = assess_binpacking(target, state.pods, state.in_namespace(gpu_ns.name))
    _fails(_shown(failures), "1 stranded by fragmentation", f"largest free block {size - 1}")
    assert report["nodes_partly_used"] == len(nodes) and report["fragmentation"] > 0


# Check 8 --------------------------------------------------------------------------------------


def test_devices_check_fails_when_a_pod_takes_every_gpu_itself(
    gpu_cluster: ClusterHandle, gpu_ns: GpuNamespace
) -> None:
    """The zero-GPU probe sets NVIDIA_VISIBLE_DEVICES=all itself, as images do to reach GPUs
    without asking the scheduler: the check must report it."""
    seen = devices_setup(gpu_ns, gpu_cluster.container_nodes, inject_all=True)
    failures = assess_devices(seen)
    print("\nreported:\n" + "\n".join(failures))
    assert any("requested 0 GPU(s) but sees every GPU" in f for f in failures), failures


def test_checks_skip_naming_what_is_missing_without_gpu_nodes(gpu_cluster: ClusterHandle) -> None:
    nodes = copy.deepcopy(read_state(gpu_cluster.client).nodes)
    assert m.missing_gpu_reason(nodes) is None
    for n in nodes:  # the same cluster as it would look without NVIDIA's device plugin and GFD
        n["metadata"]["labels"] = {
            k: v for k, v in m.labels(n).items() if not k.startswith("nvidia.com/")
        }
        alloc = n["status"]["allocatable"]
        n["status"]["allocatable"] = {k: v for k, v in alloc.items() if not m.is_gpu_resource(k)}
    reason = m.missing_gpu_reason(nodes)
    assert reason is not None
    assert f"none of the {len(nodes)} nodes" in reason and m.PRESENT in reason and m.GPU in reason
