"""The Assess step of every GPU check, as pure functions over API objects.

Each takes objects read from the API (dicts) and returns the failures as sentences (empty list:
pass). Keeping them pure lets tests/e2e/suites/test_gpu_checks_can_fail.py feed them
deliberately broken state and prove that every check can fail, with a message that says what
is wrong and where.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from servegate.checks.gpu import model as m
from servegate.checks.gpu.model import Obj

# Products GPU feature discovery reports, with the family and memory (MiB) it reports for
# them; a node whose labels disagree with these is lying about what it has.
KNOWN_PRODUCTS: dict[str, tuple[str, int]] = {
    "NVIDIA-A100-SXM4-80GB": ("ampere", 81920),
    "NVIDIA-A100-SXM4-40GB": ("ampere", 40960),
    "NVIDIA-A100-80GB-PCIe": ("ampere", 81920),
    "NVIDIA-H100-80GB-HBM3": ("hopper", 81559),
    "NVIDIA-H200": ("hopper", 143771),
    "NVIDIA-L4": ("ada-lovelace", 23034),
    "NVIDIA-A10G": ("ampere", 23028),
    "Tesla-T4": ("turing", 15360),
}
_MEMORY_TOLERANCE = 0.03
_MIG_PROFILE = re.compile(r"^nvidia\.com/mig-([1-7])g\.\d+gb$")
_SLICES_PER_GPU = 7


def base_product(product: str) -> str:
    return re.sub(r"(-MIG-[1-7]g\.\d+gb)?(-SHARED)?$", "", product)


def _int_label(node: Obj, key: str, out: list[str]) -> int | None:
    raw = m.labels(node).get(key)
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is None or value < 1:
        out.append(f"node {m.name(node)}: label {key}={raw!r} is not a positive integer")
    return value


def _product_consistent(node: Obj, out: list[str]) -> None:
    lab = m.labels(node)
    product = lab.get(m.PRODUCT)
    if not product:
        out.append(f"node {m.name(node)}: GPU node without the {m.PRODUCT} label")
        return
    known = KNOWN_PRODUCTS.get(base_product(product))
    if known is None:
        return  # unknown products are judged on their counts only
    family, memory = known
    if lab.get(m.FAMILY) and lab[m.FAMILY] != family:
        out.append(
            f"node {m.name(node)}: {m.PRODUCT}={product} is {family} but "
            f"{m.FAMILY}={lab[m.FAMILY]}: the product label does not match the hardware"
        )
    raw = lab.get(m.MEMORY)
    if raw and raw.isdigit() and abs(int(raw) - memory) > memory * _MEMORY_TOLERANCE:
        out.append(
            f"node {m.name(node)}: {m.PRODUCT}={product} has {memory} MiB per GPU but "
            f"{m.MEMORY}={raw}: the product label does not match the hardware"
        )


def assess_advertised(nodes: list[Obj]) -> list[str]:
    """Check 1: each GPU node advertises the allocatable GPUs its feature-discovery labels say."""
    out: list[str] = []
    for node in (n for n in nodes if m.is_gpu_node(n)):
        node_name = m.name(node)
        try:
            alloc = m.allocatable(node)
        except ValueError as exc:
            out.append(f"node {node_name}: allocatable: {exc}")
            continue
        _product_consistent(node, out)
        count = _int_label(node, m.COUNT, out)
        if count is None:
            continue
        out += _assess_counts(node, alloc, count)
    return out


def _assess_counts(node: Obj, alloc: dict[str, Decimal], count: int) -> list[str]:
    """The physical GPUs implied by allocatable (exclusive + time-sliced + MIG) vs .count."""
    node_name, lab = m.name(node), m.labels(node)
    if lab.get(m.MIG_STRATEGY) == "single":
        return _assess_mig_single(node, alloc, count)
    out: list[str] = []
    whole, parts = alloc.get(m.GPU, Decimal(0)), []
    exclusive, sliced = whole, Decimal(0)
    if m.time_sliced(node):
        replicas = _int_label(node, m.REPLICAS, out) or 1
        res = m.SHARED if m.SHARED in alloc else m.GPU
        units = alloc.get(res, Decimal(0))
        sliced = units / replicas
        exclusive = whole if res == m.SHARED else Decimal(0)
        parts.append(
            f"allocatable {res}={units} time-sliced replicas / {m.REPLICAS}={replicas} = "
            f"{sliced:g} GPUs"
        )
        if res == m.GPU and not lab.get(m.PRODUCT, "").endswith("-SHARED"):
            out.append(f"node {node_name}: time-sliced {m.GPU} but {m.PRODUCT} lacks -SHARED")
    if exclusive:
        parts.append(f"allocatable {m.GPU}={exclusive} exclusive GPUs")
    slices, profiles = Decimal(0), 0
    for res, amount in alloc.items():
        found = _MIG_PROFILE.match(res)
        if found:
            slices += amount * int(found.group(1))
            profiles += 1
    mig_gpus = math.ceil(slices / _SLICES_PER_GPU)
    if profiles:
        parts.append(f"MIG slices: {slices} compute slices = {mig_gpus} GPUs")
    elif m.MIG_STRATEGY in lab:
        out.append(f"node {node_name}: {m.MIG_STRATEGY} is set but no {m.MIG_PREFIX}* allocatable")
    implied = exclusive + sliced + mig_gpus
    # MIG geometries need not use every slice, so with MIG the slices only bound the count.
    if implied > count or (not profiles and implied != count):
        out.append(
            f"node {node_name}: {m.COUNT}={count} but allocatable implies {implied:g} "
            f"physical GPUs ({'; '.join(parts) or 'no GPU resource'})"
        )
    return out


def _assess_mig_single(node: Obj, alloc: dict[str, Decimal], count: int) -> list[str]:
    lab = m.labels(node)
    match = re.search(r"-MIG-([1-7])g\.\d+gb$", lab.get(m.PRODUCT, ""))
    whole = alloc.get(m.GPU, Decimal(0))
    most = count * (_SLICES_PER_GPU // int(match.group(1))) if match else 0
    if not match or not 0 < whole <= most:
        return [
            f"node {m.name(node)}: MIG single: allocatable {m.GPU}={whole} does not fit "
            f"{count} GPUs of {lab.get(m.PRODUCT)!r} (at most {most})"
        ]
    return []


def _bound(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if m.node_name_of(p) and m.is_active(p)]


def assess_allocation(nodes: list[Obj], all_pods: list[Obj], scenario: list[Obj]) -> list[str]:
    """Check 2: per node, GPUs requested <= allocatable; each scenario pod bound with exactly
    what it asked for (requests == limits) on a node of the product it required."""
    out: list[str] = []
    by_name = {m.name(n): n for n in nodes}
    used: dict[str, dict[str, Decimal]] = {}
    for pod in _bound(all_pods):
        node_used = used.setdefault(m.node_name_of(pod) or "", {})
        for res, amount in m.pod_requests(pod).items():
            node_used[res] = node_used.get(res, Decimal(0)) + amount
    for node_name, node_used in sorted(used.items()):
        node = by_name.get(node_name)
        alloc = m.allocatable(node) if node else {}
        for res, amount in sorted(node_used.items()):
            if amount > alloc.get(res, Decimal(0)):
                out.append(
                    f"node {node_name}: pods request {amount} {res} but it has "
                    f"{alloc.get(res, Decimal(0))} allocatable (over-committed)"
                )
    for pod in scenario:
        pod_name, bound_to = m.name(pod), m.node_name_of(pod)
        requests, limits = m.pod_requests(pod), m.pod_requests(pod, "limits")
        if requests != limits:
            out.append(f"pod {pod_name}: GPU requests {requests} differ from limits {limits}")
        if not bound_to:
            out.append(f"pod {pod_name}: not scheduled: {m.scheduling_message(pod)}")
            continue
        node = by_name.get(bound_to, {})
        alloc = m.allocatable(node)
        for res, amount in requests.items():
            if alloc.get(res, Decimal(0)) < amount:
                out.append(
                    f"pod {pod_name}: got node {bound_to}, which has {alloc.get(res, 0)} "
                    f"{res} allocatable for a request of {amount}"
                )
        out += _product_failures(pod, node)
    return out


def _product_failures(pod: Obj, node: Obj) -> list[str]:
    wanted = [p for p in m.annots(pod).get(m.EXPECT_PRODUCTS, "").split(",") if p]
    product = m.labels(node).get(m.PRODUCT)
    if wanted and product not in wanted:
        return [
            f"pod {m.name(pod)}: on node {m.name(node)} with {m.PRODUCT}={product}, "
            f"but it required one of {wanted}"
        ]
    return []


def assess_placement(nodes: list[Obj], scenario: list[Obj]) -> list[str]:
    """Check 3: each bound pod's node satisfies its selectors, tolerations and the product,
    sharing mode (MIG, time-sliced) and spot expectation the scenario gave it."""
    out: list[str] = []
    by_name = {m.name(n): n for n in nodes}
    for pod in scenario:
        pod_name, node_name = m.name(pod), m.node_name_of(pod)
        if not node_name:
            out.append(f"pod {pod_name}: not scheduled: {m.scheduling_message(pod)}")
            continue
        node = by_name.get(node_name, {"metadata": {"name": node_name}})
        where = f"pod {pod_name} on node {node_name}"
        out += [f"{where}: violates {why}" for why in m.selector_mismatches(pod, node)]
        out += [f"{where}: does not tolerate taint {t}" for t in m.untolerated(pod, node)]
        out += _product_failures(pod, node)
        ann = m.annots(pod)
        want_sharing, got = ann.get(m.EXPECT_SHARING), m.modes(node)
        if want_sharing and want_sharing not in got:
            shown = "/".join(sorted(got)) or "without GPUs"
            out.append(f"{where}: wanted a {want_sharing} GPU, the node is {shown}")
        spot = ann.get(m.EXPECT_SPOT)
        if spot == "never" and m.is_spot(node):
            out.append(f"{where}: landed on a spot node without asking for spot capacity")
        if spot == "required" and not m.is_spot(node):
            out.append(f"{where}: tolerates and selects spot capacity but is not on a spot node")
    return out


@dataclass(frozen=True)
class QuotaOutcome:
    """What the API server answered to a pod that exceeds the namespace's GPU quota."""

    admitted: bool
    status: int | None = None
    message: str = ""


def assess_quota(outcome: QuotaOutcome, resource: str = f"requests.{m.GPU}") -> list[str]:
    """Check 4: the over-quota pod is refused with 403 and a message naming the quota."""
    if outcome.admitted:
        return [f"a pod over the namespace's {resource} quota was admitted (is the quota applied?)"]
    out = []
    if outcome.status != 403:
        out.append(f"over-quota pod refused with HTTP {outcome.status}, expected 403")
    if "exceeded quota" not in outcome.message or resource not in outcome.message:
        out.append(
            f"refusal message does not say 'exceeded quota' for {resource}: {outcome.message!r}"
        )
    return out


def _preempted(pod: Obj) -> bool:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return True
    return any(
        c.get("type") == "DisruptionTarget" and c.get("reason") == "PreemptionByScheduler"
        for c in pod.get("status", {}).get("conditions") or []
    )


def assess_preemption(high: Obj, low_before: list[Obj], low_after: list[Obj]) -> list[str]:
    """Check 5: the high-priority pod is bound on a full pool by preempting a lower one."""
    out: list[str] = []
    hp = int(high.get("spec", {}).get("priority") or 0)
    for low in low_before:
        lp = int(low.get("spec", {}).get("priority") or 0)
        if lp >= hp:
            out.append(
                f"pod {m.name(high)} has priority {hp}, not above {m.name(low)}'s {lp} "
                "(PriorityClass missing or not applied)"
            )
    remaining = {m.name(p): p for p in low_after}
    victims = [
        m.name(p)
        for p in low_before
        if m.name(p) not in remaining or _preempted(remaining[m.name(p)])
    ]
    if not victims:
        out.append(f"no lower-priority pod was preempted for {m.name(high)}")
    if not m.node_name_of(high):
        out.append(f"high-priority pod {m.name(high)} not scheduled: {m.scheduling_message(high)}")
    return out


def assess_binpacking(
    nodes: list[Obj], all_pods: list[Obj], workload: list[Obj], min_scheduled: float = 1.0
) -> tuple[dict[str, Any], list[str]]:
    """Check 6: how well a mixed workload packs onto ``nodes`` (whole GPUs only).

    Fragmentation is 1 - largest free block / free GPUs: 0 when the free GPUs sit on one
    node, near 1 when they are scattered in slivers no large pod can use.
    """
    names = {m.name(n) for n in nodes}
    total = {m.name(n): int(m.allocatable(n).get(m.GPU, 0)) for n in nodes}
    used = dict.fromkeys(names, 0)
    for pod in _bound(all_pods):
        if m.node_name_of(pod) in names:
            used[m.node_name_of(pod) or ""] += int(m.pod_requests(pod).get(m.GPU, 0))
    free = {n: max(total[n] - used[n], 0) for n in names}
    requested = sum(int(m.pod_requests(p).get(m.GPU, 0)) for p in workload)
    placed = sum(int(m.pod_requests(p).get(m.GPU, 0)) for p in _bound(workload))
    free_total, largest = sum(free.values()), max(free.values(), default=0)
    pending = [p for p in workload if not m.node_name_of(p)]
    stranded = [p for p in pending if largest < m.pod_requests(p).get(m.GPU, 0) <= free_total]
    partly = sorted(n for n in names if 0 < used[n] < total[n])
    report: dict[str, Any] = {
        "nodes": len(names),
        "gpus_total": sum(total.values()),
        "gpus_allocated": sum(used.values()),
        "allocated_fraction": round(sum(used.values()) / max(sum(total.values()), 1), 4),
        "workload_pods": len(workload),
        "workload_gpus_requested": requested,
        "workload_gpus_scheduled": placed,
        "scheduled_fraction": round(placed / requested, 4) if requested else 1.0,
        "nodes_full": sum(1 for n in names if total[n] and used[n] >= total[n]),
        "nodes_partly_used": len(partly),
        "nodes_empty": sum(1 for n in names if used[n] == 0),
        "gpus_free": free_total,
        "largest_free_block": largest,
        "fragmentation": round(1 - largest / free_total, 4) if free_total else 0.0,
        "pods_pending": len(pending),
        "pods_stranded_by_fragmentation": len(stranded),
    }
    failures = []
    if report["scheduled_fraction"] < min_scheduled:
        failures.append(
            f"{len(pending)} workload pods ({requested - placed} GPUs) pending; "
            f"{len(stranded)} stranded by fragmentation: {free_total} GPUs free across "
            f"{len(partly)} partly used nodes, largest free block {largest} "
            f"(scheduled {report['scheduled_fraction']:.0%} < {min_scheduled:.0%})"
        )
    return report, failures
