"""The Setup objects of the GPU checks, built from the suite's YAML and the cluster's nodes.

The YAML (the pod template, the seed article's quota and PriorityClasses) stays beside the
tests, in suites/conformance/gpu/objects/. Pods are derived from the GPU nodes the cluster
actually has (products, MIG profiles, time-sliced and spot pools, free GPUs), so the same
checks run on the simulated fleet and on a real GPU cluster. What a cluster lacks is returned
as a reason the matching check skips with.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import yaml

from servegate.checks.gpu import model as m
from servegate.checks.gpu.model import Obj
from servegate.k8s.scope import dns_label
from servegate.paths import REPO

OBJECTS = REPO / "suites" / "conformance" / "gpu" / "objects"
#: Image of the GPU pods; override for clusters that cannot pull registry.k8s.io.
IMAGE_ENV = "SERVEGATE_GPU_POD_IMAGE"
#: Set where the GPU pods may land on the local cluster's real node: it has no internet, only
#: images built on it.
_image_default: list[str] = []


def use_image(image: str) -> None:
    """Make ``image`` the GPU pods' image unless the user set SERVEGATE_GPU_POD_IMAGE."""
    _image_default[:] = [image]


def load(name: str) -> list[Obj]:
    with (OBJECTS / name).open() as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def gpu_pod(
    name: str,
    resources: dict[str, int],
    *,
    node_selector: dict[str, str] | None = None,
    products: Iterable[str] = (),
    tolerate: Iterable[Obj] = (),
    expect: dict[str, str] | None = None,
    priority_class: str | None = None,
) -> Obj:
    """One GPU pod: requests == limits for every GPU resource, as the device plugin needs."""
    pod = copy.deepcopy(load("gpu-pod.yaml")[0])
    pod["metadata"]["name"] = name
    pod["metadata"]["annotations"] = dict(expect or {})
    spec = pod["spec"]
    res = spec["containers"][0]["resources"]
    for k, v in resources.items():
        res["requests"][k] = res["limits"][k] = str(v)
    image = os.environ.get(IMAGE_ENV) or next(iter(_image_default), None)
    if image:
        spec["containers"][0]["image"] = image
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    wanted = sorted(set(products))
    if wanted:
        spec["affinity"] = _required_in(m.PRODUCT, wanted)
    spec["tolerations"] = spec.get("tolerations", []) + [dict(t) for t in tolerate]
    if priority_class:
        spec["priorityClassName"] = priority_class
    return pod


def _required_in(key: str, values: list[str]) -> Obj:
    """A pod affinity requiring a node whose label ``key`` is one of ``values``."""
    term = {"matchExpressions": [{"key": key, "operator": "In", "values": values}]}
    required = {"nodeSelectorTerms": [term]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}


def pin_to_hosts(pod: Obj, hosts: list[str]) -> Obj:
    """Require one of ``hosts`` (by kubernetes.io/hostname), replacing any node affinity."""
    pod["spec"]["affinity"] = _required_in(m.HOSTNAME, sorted(hosts))
    return pod


def hostname(node: Obj) -> str:
    return m.labels(node).get(m.HOSTNAME, m.name(node))


def free_gpus(nodes: list[Obj], pods: list[Obj]) -> dict[str, dict[str, Decimal]]:
    """Allocatable minus what active bound pods request, per node and GPU resource."""
    free = {m.name(n): dict(m.allocatable(n)) for n in nodes if m.is_gpu_node(n)}
    for pod in pods:
        node = m.node_name_of(pod)
        if node in free and m.is_active(pod):
            for res, amount in m.pod_requests(pod).items():
                free[node][res] = free[node].get(res, Decimal(0)) - amount
    return free


def schedulable(node: Obj) -> bool:
    """No hard taint besides nvidia.com/gpu (which every GPU pod here tolerates)."""
    return not node.get("spec", {}).get("unschedulable") and all(
        t.get("key") == m.GPU for t in m.hard_taints(node)
    )


@dataclass
class Scenario:
    pods: list[Obj] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # aspect -> why it cannot be checked

    def of(self, aspect: str) -> list[Obj]:
        return [p for p in self.pods if m.annots(p).get(m.ASPECT) == aspect]


def _expect(aspect: str, **values: str) -> dict[str, str]:
    keys = {"products": m.EXPECT_PRODUCTS, "sharing": m.EXPECT_SHARING, "spot": m.EXPECT_SPOT}
    return {m.ASPECT: aspect, **{keys[k]: v for k, v in values.items()}}


def placement_scenario(nodes: list[Obj], pods: list[Obj]) -> Scenario:
    """A mixed set of GPU pods exercising product affinity, MIG, time-slicing and spot."""
    sc = Scenario()
    free = free_gpus(nodes, pods)
    gpu_nodes = [n for n in nodes if m.is_gpu_node(n)]
    open_nodes = [n for n in gpu_nodes if schedulable(n)]

    excl = [n for n in open_nodes if m.sharing(n) == "exclusive"]
    by_product: dict[str, list[int]] = {}
    for n in excl:
        by_product.setdefault(m.labels(n).get(m.PRODUCT, ""), []).append(
            int(free[m.name(n)].get(m.GPU, 0))
        )
    ranked = sorted((p for p in by_product if p and max(by_product[p]) >= 2), key=lambda p: p)
    if ranked:
        pair, last = ranked[:2], ranked[-1]
        sc.pods.append(
            gpu_pod(
                "affinity-2",
                {m.GPU: 2},
                products=pair,
                expect=_expect("affinity", products=",".join(pair)),
            )
        )
        roomy = sum(1 for x in by_product[last] if x >= 4) >= 2 or max(by_product[last]) >= 6
        size = 4 if roomy else 1  # room for it even if affinity-2 lands on the same node
        sc.pods.append(
            gpu_pod(
                f"selector-{size}",
                {m.GPU: size},
                node_selector={m.PRODUCT: last},
                expect=_expect("affinity", products=last),
            )
        )
    else:
        sc.missing["affinity"] = "no untainted exclusive GPU node with 2 free GPUs"

    mig = [
        (m.name(n), r, int(v))
        for n in open_nodes
        for r, v in free[m.name(n)].items()
        if r.startswith(m.MIG_PREFIX) and v >= 2
    ]
    if mig:
        _, profile, _ = max(mig, key=lambda t: (t[2], t[1]))
        for i in range(2):
            sc.pods.append(gpu_pod(f"mig-{i}", {profile: 1}, expect=_expect("mig", sharing="mig")))
    else:
        sc.missing["mig"] = (
            f"no untainted MIG node ({m.MIG_STRATEGY}, {m.MIG_PREFIX}*) with 2 free slices"
        )

    # Time-sliced replicas: nvidia.com/gpu.shared where the device plugin renames them,
    # else nvidia.com/gpu on a node whose every unit is a replica.
    shared = [
        (m.SHARED if m.SHARED in free[m.name(n)] else m.GPU, n)
        for n in open_nodes
        if m.time_sliced(n)
        and free[m.name(n)].get(m.SHARED if m.SHARED in free[m.name(n)] else m.GPU, 0) >= 2
        and (m.SHARED in free[m.name(n)] or m.sharing(n) == "time-slicing")
    ]
    if shared:
        res, node = shared[0]
        for i in range(2):
            sc.pods.append(
                gpu_pod(
                    f"shared-{i}",
                    {res: 1},
                    node_selector={m.SHARING: m.labels(node).get(m.SHARING, "time-slicing")}
                    if res == m.GPU
                    else None,
                    expect=_expect("time-slicing", sharing="time-slicing"),
                )
            )
    else:
        sc.missing["time-slicing"] = (
            f"no untainted time-sliced GPU node ({m.SHARING}=time-slicing) with 2 free replicas"
        )

    spot = [n for n in gpu_nodes if m.is_spot(n) and free[m.name(n)].get(m.GPU, 0) >= 1]
    if spot and excl:
        node = spot[0]
        lab = m.labels(node)
        selector = {k: v for k, v in m.SPOT_LABELS.items() if lab.get(k) == v} or {
            m.HOSTNAME: m.name(node)
        }
        taints = [
            {
                "key": t["key"],
                "operator": "Equal",
                "value": t.get("value", ""),
                "effect": t["effect"],
            }
            for t in m.hard_taints(node)
        ]
        sc.pods.append(
            gpu_pod(
                "spot-1",
                {m.GPU: 1},
                node_selector=selector,
                tolerate=taints,
                expect=_expect("spot", spot="required"),
            )
        )
        for i in range(3):  # spreading would put these on empty spot nodes if taints were ignored
            sc.pods.append(
                gpu_pod(f"on-demand-{i}", {m.GPU: 1}, expect=_expect("spot", spot="never"))
            )
    else:
        sc.missing["spot"] = (
            "no spot GPU node with a free GPU (labels "
            + ", ".join(f"{k}={v}" for k, v in m.SPOT_LABELS.items())
            + " or a 'spot' taint)"
        )
    return sc


def binpack_workload(nodes: list[Obj], pods: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(target nodes, pods) whose sizes tile the free whole GPUs of untainted exclusive nodes.

    Each node's free GPUs are split into powers of two (8 -> 4+2+1+1), all pods unconstrained,
    created largest first: a packer that fills the fleet without stranding GPUs schedules
    every pod.
    """
    free = free_gpus(nodes, pods)
    target = [
        n for n in nodes if m.is_gpu_node(n) and schedulable(n) and m.sharing(n) == "exclusive"
    ]
    sizes: list[int] = []
    for n in target:
        left = int(free[m.name(n)].get(m.GPU, 0))
        part = 4
        while left > 0:
            while part > left:
                part //= 2
            sizes.append(part)
            left -= part
            part = max(part // 2, 1)
    sizes.sort(reverse=True)
    work = [gpu_pod(f"pack-{i:03d}-{s}", {m.GPU: s}) for i, s in enumerate(sizes)]
    return target, work


def priority_classes(run_id: str) -> tuple[Obj, Obj]:
    """(high, low) PriorityClasses, named per run since they are cluster-scoped."""
    high, low = (copy.deepcopy(o) for o in load("priority-classes.yaml"))
    for obj in (high, low):
        obj["metadata"]["name"] = dns_label(f"sg-{run_id}-{obj['metadata']['name']}")
    return high, low


def pool_of(node: Obj) -> str:
    lab = m.labels(node)
    return lab.get(m.POOL) or lab.get(m.PRODUCT) or m.name(node)


def preemption_pool(nodes: list[Obj], pods: list[Obj], ours: str) -> tuple[list[Obj], str | None]:
    """The smallest untainted exclusive GPU pool where only this run's pods use GPUs, so the
    preemption check can never evict anybody else's workload; or a reason there is none."""
    foreign = {
        m.node_name_of(p)
        for p in pods
        if m.is_active(p) and m.pod_requests(p) and p["metadata"].get("namespace") != ours
    }
    pools: dict[str, list[Obj]] = {}
    for n in nodes:
        if m.is_gpu_node(n) and schedulable(n) and m.sharing(n) == "exclusive":
            pools.setdefault(pool_of(n), []).append(n)
    clean = {k: v for k, v in pools.items() if not any(m.name(n) in foreign for n in v)}
    if not clean:
        return [], "no untainted exclusive GPU pool free of other workloads' GPU pods"
    best = min(clean, key=lambda k: (sum(int(m.allocatable(n).get(m.GPU, 0)) for n in clean[k]), k))
    return clean[best], None
