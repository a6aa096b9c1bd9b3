"""Setup steps of the GPU checks, shared with their meta-tests.

Each returns the objects the Assess function judges, read back from the API; a flag builds the
deliberately broken variant (no quota, no priority) the meta-tests in tests/e2e/suites use.
What the cluster lacks for a step is raised as :class:`MissingCapability` (the check skips,
naming it); a step that cannot be set up as :class:`UserError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from servegate.checks.gpu import model as m
from servegate.checks.gpu.assess import QuotaOutcome
from servegate.checks.gpu.model import Obj
from servegate.checks.gpu.namespace import GpuNamespace, State, read_state
from servegate.checks.gpu.objects import (
    Scenario,
    binpack_workload,
    free_gpus,
    gpu_pod,
    hostname,
    load,
    pin_to_hosts,
    placement_scenario,
    preemption_pool,
    priority_classes,
)
from servegate.errors import MissingCapability, UserError
from servegate.wait import wait_for

QUOTA_READY_TIMEOUT_S = 30.0


def _wait_quota(ns: GpuNamespace, name: str) -> None:
    """Admission refuses every pod until the quota controller has filled status.hard."""

    def filled() -> bool:
        quota = ns.cluster.core.read_namespaced_resource_quota(name, ns.name)
        return bool(quota.status and quota.status.hard)

    wait_for(
        filled,
        QUOTA_READY_TIMEOUT_S,
        f"ResourceQuota {name} has no status "
        "(is kube-controller-manager's resourcequota controller running?)",
        0.2,
    )


def quota_setup(ns: GpuNamespace, with_quota: bool = True) -> QuotaOutcome:
    """Quota of 2 GPUs, a 1-GPU pod inside it; returns what happened to a 2-GPU pod."""
    if with_quota:
        quota = load("gpu-quota.yaml")[0]
        ns.create(quota)
        _wait_quota(ns, m.name(quota))
    first = ns.attempt(gpu_pod("within-quota", {m.GPU: 1}))
    if not first.admitted:
        raise UserError(f"a pod within the quota was refused: {first.message}")
    return ns.attempt(gpu_pod("over-quota", {m.GPU: 2}))


@dataclass
class Placed:
    """The placement scenario after the scheduler settled it."""

    scenario: Scenario
    state: State
    namespace: str

    def pods(self, aspect: str | None = None) -> list[Obj]:
        wanted = self.scenario.of(aspect) if aspect else self.scenario.pods
        names = {m.name(p) for p in wanted}
        return [p for p in self.state.in_namespace(self.namespace) if m.name(p) in names]

    def require(self, aspect: str) -> list[Obj]:
        """The pods of one aspect; :class:`MissingCapability`, naming what is missing, if the
        cluster cannot exercise it."""
        if aspect in self.scenario.missing:
            raise MissingCapability(f"{aspect}: {self.scenario.missing[aspect]}")
        return self.pods(aspect)


def placement_setup(ns: GpuNamespace) -> Placed:
    """One mixed set of GPU pods, derived from the cluster's GPU nodes, created in ``ns`` and
    waited on until each is bound or unschedulable."""
    before = read_state(ns.cluster)
    scenario = placement_scenario(before.nodes, before.pods)
    for pod in scenario.pods:
        ns.create(pod)
    ns.wait_settled([m.name(p) for p in scenario.pods])
    return Placed(scenario, read_state(ns.cluster), ns.name)


@dataclass
class Preemption:
    high: Obj
    low_before: list[Obj]
    low_after: list[Obj]


def preemption_setup(ns: GpuNamespace, run_id: str, with_priority: bool = True) -> Preemption:
    """Fill one GPU pool with low-priority pods, then ask for a whole node at high priority.

    The pool is one no other workload uses, so only this run's pods can be preempted.
    """
    state = read_state(ns.cluster)
    pool, why = preemption_pool(state.nodes, state.pods, ns.name)
    if why:
        raise MissingCapability(f"preemption: {why}")
    high_pc, low_pc = priority_classes(run_id)
    for pc in (high_pc, low_pc):
        ns.create(pc)
    free = free_gpus(state.nodes, state.pods)
    lows = []
    for i, node in enumerate(pool):
        n = int(free[m.name(node)].get(m.GPU, 0))
        if n > 0:
            pod = gpu_pod(
                f"low-{i}",
                {m.GPU: n},
                node_selector={m.HOSTNAME: hostname(node)},
                priority_class=m.name(low_pc),
            )
            ns.create(pod)
            lows.append(m.name(pod))
    low_before = ns.wait_settled(lows)
    unbound = [m.name(p) for p in low_before if not m.node_name_of(p)]
    if unbound or not lows:
        raise UserError(f"setup: could not fill the pool ({unbound or 'no free GPU'})")
    size = max(int(m.allocatable(n).get(m.GPU, 0)) for n in pool)
    # The broken variant (meta-test) leaves the high pod at the victims' priority.
    klass = m.name(high_pc) if with_priority else m.name(low_pc)
    high = gpu_pod("high-0", {m.GPU: size}, priority_class=klass)
    pin_to_hosts(high, [hostname(n) for n in pool])
    ns.create(high)
    (high_after,) = ns.wait_settled([m.name(high)])
    after = {m.name(p): p for p in ns.pods()}
    return Preemption(high_after, low_before, [after[n] for n in lows if n in after])


@dataclass
class Binpack:
    nodes: list[Obj]
    all_pods: list[Obj]
    workload: list[Obj]


def binpack_setup(ns: GpuNamespace) -> Binpack:
    """Create a mixed workload tiling the free whole GPUs of untainted exclusive nodes."""
    state = read_state(ns.cluster)
    target, work = binpack_workload(state.nodes, state.pods)
    if not work:
        raise MissingCapability("bin-packing: no free whole GPU on an untainted exclusive GPU node")
    hosts = [hostname(n) for n in target]
    for pod in work:  # largest first, the order binpack_workload returns
        pin_to_hosts(pod, hosts)
        ns.create(pod)
    ns.wait_settled([m.name(p) for p in work])
    after = read_state(ns.cluster)
    by_name = {m.name(n): n for n in after.nodes}
    return Binpack(
        [by_name[m.name(n)] for n in target if m.name(n) in by_name],
        after.pods,
        after.in_namespace(ns.name),
    )
