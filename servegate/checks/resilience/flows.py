"""Each resilience check as Setup (deploy), disruption under load, and Assess, returning a
:class:`Finding` instead of asserting, so the meta-tests can run the same flow on a broken
configuration and look at the failures."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from servegate.checks.resilience.checks import (
    Eviction,
    VersionSample,
    assess_budget,
    assess_evictions,
    assess_only_version,
    assess_share,
)
from servegate.checks.resilience.env import Resil, one_line
from servegate.checks.resilience.k8s import (
    Mutate,
    canary_of,
    deployment,
    evict,
    ready_pods,
    selector,
    set_version,
    shape,
    wait_pods_gone,
    with_stable_track,
)
from servegate.checks.resilience.load import (
    VersionProbe,
    background,
    errors_by_kind,
    probing,
    wait_serving,
)
from servegate.harness.deploy import Deployed
from servegate.k8s.client import Cluster
from servegate.k8s.rollout import rollout_status, rollout_undo

V1, V2 = "v1", "v2"
MIN_AVAILABLE = 1  # what the reference PDB promises the model server during a drain


@dataclass
class Finding:
    """What a check saw: its failures as sentences (none: pass) and the data its report
    section shows."""

    what: str
    failures: list[str]
    errors: dict[str, int] = field(default_factory=dict)
    total: int = 0
    samples: list[VersionSample] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    evictions: list[Eviction] = field(default_factory=list)
    share: float | None = None
    expected_share: float | None = None


def pdb_evictions(r: Resil, mutate: Mutate, replicas: int = 2) -> Finding:
    """Evict every ready replica in quick succession: the PDB must stop the ones that would
    leave fewer than MIN_AVAILABLE serving."""
    with one_line("PDB check"), r.deployed(mutate) as dep:
        pods = ready_pods(r.cluster.client, dep.namespace, selector(deployment(dep.objects)))
        evictions = [evict(r.cluster.client, dep.namespace, p) for p in pods]
    failures = assess_evictions(evictions, replicas, replicas - MIN_AVAILABLE)
    return Finding("PDB under evictions", failures, evictions=evictions)


@dataclass
class UnderLoad:
    """A deployed unit while the steady load and the version probe run: what a flow's
    disruption acts on, and its steps logged in probe time."""

    dep: Deployed
    cluster: Cluster
    probe: VersionProbe
    finding: Finding

    @property
    def namespace(self) -> str:
        return self.dep.namespace

    @property
    def name(self) -> str:
        """The model server's Deployment."""
        return str(deployment(self.dep.objects)["metadata"]["name"])

    def step(self, what: str) -> float:
        """Log ``what`` at the probe's time now; return that time."""
        t = self.probe.now()
        self.finding.events.append((t, what))
        return t

    def roll_to(self, version: str) -> None:
        """Change the model server's version and wait until the rollout is complete."""
        self.step(f"template changed to {version}")
        set_version(self.cluster, self.namespace, self.name, version)
        rollout_status(self.cluster, self.namespace, self.name)


@contextlib.contextmanager
def _under_load(
    r: Resil, f: Finding, mutate: Mutate, rate_hz: float = 8.0, serving_first: bool = False
) -> Iterator[UnderLoad]:
    """Deploy, then run the load and the version probe while the block disrupts the unit.

    On exit the probe's samples and the load run's errors are in ``f``. ``serving_first``
    waits for the endpoint before the load starts: a unit without readiness gating is then
    judged on the disruption only, not on its first start.
    """
    with one_line(f.what), r.deployed(mutate) as dep, r.url(dep) as url:
        if serving_first:
            wait_serving(url)
        with probing(url, rate_hz) as probe, background(lambda: r.load(url)) as load:
            yield UnderLoad(dep, r.cluster.client, probe, f)
            summary = load.result().summary
        f.samples = list(probe.samples)
    f.errors = errors_by_kind(summary)
    f.total = int(summary.counts.total)


def _over_budget(r: Resil, f: Finding) -> list[str]:
    return assess_budget(f.errors, f.total, r.budget, f.what)


def rolling_update(r: Resil, safe: bool = True, replicas: int | None = None) -> Finding:
    """v1 -> v2 while the load runs; errors within budget, v2 alone serves afterwards.
    ``replicas`` None: as many as the reference ships (one)."""
    f = Finding(f"rolling update {V1} -> {V2}", [])
    unit = shape(replicas, V1, local=r.local, safe=safe)
    r.need_gpus(unit, rolls=True)
    with _under_load(r, f, unit, serving_first=not safe) as run:
        time.sleep(8)
        run.roll_to(V2)
        done = run.step("rollout complete")
    f.failures += _over_budget(r, f)
    f.failures += assess_only_version(f.samples, V2, done + 1.0, "after the rollout")
    return f


def canary(
    r: Resil,
    canary_replicas: int = 1,
    stable: int = 3,
    window_s: float = 20.0,
    expected: float | None = None,
) -> Finding:
    """A v2 canary Deployment behind the same Service; its share of responses matches its
    share of pods (``expected``, by default canary / all replicas); abort (delete it) and v1
    alone serves again; errors within budget."""
    from servegate.k8s.deploy import apply_objects

    if expected is None:
        expected = canary_replicas / (stable + canary_replicas)
    f = Finding(f"canary {V2} ({canary_replicas} pod(s) beside {stable})", [])

    def mutate(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return with_stable_track(shape(stable, V1, local=r.local)(objs))

    r.need_gpus(mutate, rolls=False, extra=canary_replicas)
    with _under_load(r, f, mutate, rate_hz=10) as run:
        cl, ns = run.cluster, run.namespace
        can = canary_of(deployment(run.dep.objects), V2, canary_replicas)
        # Cluster-scoped objects (the PriorityClass) got per-run names when applied: the
        # canary's pods use what the live stable pods use.
        live = cl.apps.read_namespaced_deployment(run.name, ns)
        can["spec"]["template"]["spec"]["priorityClassName"] = (
            live.spec.template.spec.priority_class_name
        )
        time.sleep(3)
        run.step(f"canary {V2} x{canary_replicas} applied")
        apply_objects(cl, [can], ns, r.cluster.scope, applied=run.dep.applied)
        rollout_status(cl, ns, can["metadata"]["name"])
        split_from = run.step("canary ready") + 1.0
        time.sleep(window_s)
        split_to = run.step("canary aborted (Deployment deleted)")
        cl.apps.delete_namespaced_deployment(can["metadata"]["name"], ns)
        wait_pods_gone(cl, ns, "track=canary")
        aborted = run.step("canary pods gone")
    window = [s for s in f.samples if split_from <= s.t_s < split_to]
    f.share, share_failures = assess_share(window, V2, expected)
    f.expected_share = expected
    f.failures += share_failures
    f.failures += _over_budget(r, f)
    f.failures += assess_only_version(f.samples, V1, aborted + 1.0, "after the abort")
    return f


def rollback_flow(r: Resil, undo: bool = True, replicas: int = 2) -> Finding:
    """v1 -> v2, then ``rollout undo``: v1 alone serves afterwards; errors within budget."""
    f = Finding(f"rollback {V2} -> {V1}", [])
    unit = shape(replicas, V1, local=r.local)
    r.need_gpus(unit, rolls=True)
    with _under_load(r, f, unit) as run:
        time.sleep(3)
        run.roll_to(V2)
        run.step(f"{V2} rolled out")
        if undo:
            rev = rollout_undo(run.cluster, run.namespace, run.name)
            run.step(f"rollout undo to revision {rev}")
            rollout_status(run.cluster, run.namespace, run.name)
        done = run.step("rollback complete")
    f.failures += _over_budget(r, f)
    f.failures += assess_only_version(f.samples, V1, done + 1.0, "after the rollback")
    return f
