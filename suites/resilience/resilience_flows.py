"""Each resilience check as Setup (deploy), disruption under load, and Assess, returning a
:class:`Finding` instead of asserting, so the meta-tests can run the same flow on a broken
configuration and look at the failures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from resilience_checks import (
    Eviction,
    VersionSample,
    assess_budget,
    assess_evictions,
    assess_only_version,
    assess_share,
)
from resilience_env import Resil, one_line
from resilience_k8s import (
    Mutate,
    canary_of,
    deployment,
    evict,
    ready_pods,
    rollback,
    selector,
    set_version,
    shape,
    wait_rollout,
    with_stable_track,
)
from resilience_load import background, errors_by_kind, probing, wait_serving

V1, V2 = "v1", "v2"
MIN_AVAILABLE = 1  # what the reference PDB promises the model server during a drain


@dataclass
class Finding:
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


def _judge_load(what: str, r: Resil, result: Any, finding: Finding) -> None:
    s = result.summary
    finding.errors = errors_by_kind(s)
    finding.total = int(s.counts.total)
    finding.failures += assess_budget(finding.errors, finding.total, r.budget, what)


def rolling_update(r: Resil, safe: bool = True, replicas: int = 2) -> Finding:
    """v1 -> v2 while the load runs; errors within budget, v2 alone serves afterwards."""
    f = Finding(f"rolling update {V1} -> {V2}", [])
    deploy = r.deployed(shape(replicas, V1, local=r.local, safe=safe))
    with one_line(f.what), deploy as dep, r.url(dep) as url:
        if not safe:
            wait_serving(url)  # not judged on its first start, only on the update
        name = deployment(dep.objects)["metadata"]["name"]
        cl = r.cluster.client
        with probing(url) as probe, background(lambda: r.load(url)) as load:
            time.sleep(8)
            f.events.append((probe.now(), f"template changed to {V2}"))
            set_version(cl, dep.namespace, name, V2)
            wait_rollout(cl, dep.namespace, name)
            done = probe.now()
            f.events.append((done, "rollout complete"))
            result = load.result()
        f.samples = list(probe.samples)
    _judge_load(f.what, r, result, f)
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

    with one_line(f.what), r.deployed(mutate) as dep, r.url(dep) as url:
        cl = r.cluster.client
        stable_dep = deployment(dep.objects)
        can = canary_of(stable_dep, V2, canary_replicas)
        # Cluster-scoped objects (the PriorityClass) got per-run names when applied: the
        # canary's pods use what the live stable pods use.
        live = cl.apps.read_namespaced_deployment(stable_dep["metadata"]["name"], dep.namespace)
        can["spec"]["template"]["spec"]["priorityClassName"] = (
            live.spec.template.spec.priority_class_name
        )
        with probing(url, rate_hz=10) as probe, background(lambda: r.load(url)) as load:
            time.sleep(3)
            f.events.append((probe.now(), f"canary {V2} x{canary_replicas} applied"))
            apply_objects(cl, [can], dep.namespace, r.cluster.scope, applied=dep.applied)
            wait_rollout(cl, dep.namespace, can["metadata"]["name"])
            split_from = probe.now() + 1.0
            f.events.append((split_from - 1.0, "canary ready"))
            time.sleep(window_s)
            split_to = probe.now()
            f.events.append((split_to, "canary aborted (Deployment deleted)"))
            cl.apps.delete_namespaced_deployment(can["metadata"]["name"], dep.namespace)
            _wait_gone(cl, dep.namespace, "track=canary")
            aborted = probe.now()
            f.events.append((aborted, "canary pods gone"))
            result = load.result()
        f.samples = list(probe.samples)
    window = [s for s in f.samples if split_from <= s.t_s < split_to]
    f.share, share_failures = assess_share(window, V2, expected)
    f.expected_share = expected
    f.failures += share_failures
    _judge_load(f.what, r, result, f)
    f.failures += assess_only_version(f.samples, V1, aborted + 1.0, "after the abort")
    return f


def _wait_gone(cluster: Any, namespace: str, label_selector: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pods = cluster.core.list_namespaced_pod(namespace, label_selector=label_selector).items
        if not pods:
            return
        time.sleep(0.5)
    raise TimeoutError(f"pods {label_selector} still there after {timeout_s:.0f}s")


def rollback_flow(r: Resil, undo: bool = True, replicas: int = 2) -> Finding:
    """v1 -> v2, then ``rollout undo``: v1 alone serves afterwards; errors within budget."""
    f = Finding(f"rollback {V2} -> {V1}", [])
    deploy = r.deployed(shape(replicas, V1, local=r.local))
    with one_line(f.what), deploy as dep, r.url(dep) as url:
        name = deployment(dep.objects)["metadata"]["name"]
        cl = r.cluster.client
        with probing(url) as probe, background(lambda: r.load(url)) as load:
            time.sleep(3)
            f.events.append((probe.now(), f"template changed to {V2}"))
            set_version(cl, dep.namespace, name, V2)
            wait_rollout(cl, dep.namespace, name)
            f.events.append((probe.now(), f"{V2} rolled out"))
            if undo:
                rev = rollback(cl, dep.namespace, name)
                f.events.append((probe.now(), f"rollout undo to revision {rev}"))
                wait_rollout(cl, dep.namespace, name)
            done = probe.now()
            f.events.append((done, "rollback complete"))
            result = load.result()
        f.samples = list(probe.samples)
    _judge_load(f.what, r, result, f)
    f.failures += assess_only_version(f.samples, V1, done + 1.0, "after the rollback")
    return f
