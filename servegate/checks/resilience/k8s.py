"""Setup steps of the resilience checks: the model-server unit shaped for rollouts, and
evictions, version changes and canaries through the Kubernetes API (rollouts are awaited and
undone with kubectl, :mod:`servegate.k8s.rollout`).

The unit is the reference ``vllm-deployment`` (sim overlay) with its rollout configuration
as shipped: readiness gating, ``maxSurge: 1`` / ``maxUnavailable: 0``, a preStop pause so
endpoints are withdrawn before the server stops, and a server that drains in-flight requests
on SIGTERM (the sim overlay sets the simulator's ``drain_s``, as vLLM's server drains).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

from servegate.checks.resilience.checks import Eviction
from servegate.k8s.client import Cluster
from servegate.k8s.errors import api_message
from servegate.wait import wait_for

Obj = dict[str, Any]
Mutate = Callable[[list[Obj]], list[Obj]]

UNIT = "vllm-deployment"
# The image running the simulator; a cluster whose image predates the model-version label
# can point this at a newer build (see docs/suites-resilience.md).
SIM_IMAGE = os.environ.get("SERVEGATE_RESILIENCE_SIM_IMAGE", "")
# Objects the checks leave out: KEDA would resize the Deployment under the test, and the
# NetworkPolicy admits only api-gateway pods, not the host that sends the load.
_DROP = {"ScaledObject", "NetworkPolicy"}
STARTUP_DELAY_S = 3.0  # simulated model load of every new pod: what readiness must hide


def _env(container: Obj, name: str, value: str) -> None:
    env = [e for e in container.setdefault("env", []) if e.get("name") != name]
    env.append({"name": name, "value": value})
    container["env"] = env


def deployment(objs: list[Obj]) -> Obj:
    return next(o for o in objs if o.get("kind") == "Deployment")


def model_container(dep: Obj) -> Obj:
    return dep["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def shape(
    replicas: int | None, version: str, *, local: bool, pdb: bool = True, safe: bool = True
) -> Mutate:
    """The unit serving ``version``, with ``replicas`` pods (None: as shipped).

    ``safe``: the reference manifest's own rollout configuration, as shipped (surge strategy,
    probes, preStop pause, grace period, a draining server): what the checks test. The checks
    add only what they measure with (a version label, a simulated model-load delay) and, on
    the shared local node, small resource requests. ``safe=False`` is the reference as it was
    shipped before issue 10 (maxSurge 0 / maxUnavailable 1, no preStop, a server that cuts
    requests off on SIGTERM): the meta-tests show the checks failing it.
    """

    def mutate(objs: list[Obj]) -> list[Obj]:
        out = [copy.deepcopy(o) for o in objs if o.get("kind") not in _DROP]
        if not pdb:
            out = [o for o in out if o.get("kind") != "PodDisruptionBudget"]
        dep = deployment(out)
        if replicas is not None:
            dep["spec"]["replicas"] = replicas
        c = model_container(dep)
        if SIM_IMAGE:
            c["image"] = SIM_IMAGE
        _env(c, "SERVEGATE_SIM_MODEL_VERSION", version)
        _env(c, "SERVEGATE_SIM_STARTUP_DELAY_S", f"{STARTUP_DELAY_S:g}")
        if local:
            # servegate's own node (local or kind) has 2 CPUs and 3 fake GPUs for every
            # check's pods: the checks are about rollout mechanics, so they ask for neither.
            c["resources"] = {"requests": {"cpu": "50m", "memory": "128Mi"}}
        if not safe:
            dep["spec"]["strategy"] = {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            }
            c.pop("lifecycle", None)
            _env(c, "SERVEGATE_SIM_DRAIN_S", "0")
        return out

    return mutate


def pdb_selecting_nothing(objs: list[Obj]) -> list[Obj]:
    out = copy.deepcopy(objs)
    for o in out:
        if o.get("kind") == "PodDisruptionBudget":
            o["spec"]["selector"] = {"matchLabels": {"servegate.io/role": "no-such-role"}}
    return out


def selector(dep: Obj) -> str:
    labels = dep["spec"]["selector"]["matchLabels"]
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def ready_pods(cluster: Cluster, namespace: str, label_selector: str) -> list[str]:
    names = []
    for p in cluster.core.list_namespaced_pod(namespace, label_selector=label_selector).items:
        if p.metadata.deletion_timestamp:
            continue
        conds = {c.type: c.status for c in p.status.conditions or []}
        if conds.get("Ready") == "True":
            names.append(p.metadata.name)
    return sorted(names)


def evict(cluster: Cluster, namespace: str, pod: str) -> Eviction:
    """POST a policy/v1 Eviction for ``pod``; the answer, never an exception."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    body = client.V1Eviction(
        metadata=client.V1ObjectMeta(name=pod, namespace=namespace),
        delete_options=client.V1DeleteOptions(grace_period_seconds=1),
    )
    try:
        cluster.core.create_namespaced_pod_eviction(pod, namespace, body)
    except ApiException as exc:
        return Eviction(pod, int(exc.status or 0), api_message(exc))
    return Eviction(pod, 201, "")


def set_version(cluster: Cluster, namespace: str, name: str, version: str) -> None:
    """Change the served model version: a new pod template, hence a rollout.

    A strategic merge patch: ``env`` entries merge by name, the rest of the template stays.
    """
    dep = cluster.apps.read_namespaced_deployment(name, namespace)
    container = dep.spec.template.spec.containers[0].name
    env = [{"name": "SERVEGATE_SIM_MODEL_VERSION", "value": version}]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "env": env}]}}}}
    cluster.apps.patch_namespaced_deployment(name, namespace, patch)


def wait_pods_gone(
    cluster: Cluster, namespace: str, label_selector: str, timeout_s: float = 60
) -> None:
    """Block until no pod matches ``label_selector`` (deleted, not merely terminating)."""

    def gone() -> bool:
        return not cluster.core.list_namespaced_pod(namespace, label_selector=label_selector).items

    wait_for(gone, timeout_s, f"pods {label_selector} still there", 0.5)


def canary_of(dep: Obj, version: str, replicas: int) -> Obj:
    """A second Deployment behind the same Service: same ``app.kubernetes.io/name`` label
    (the Service's selector), its own ``track: canary`` label so the two never adopt each
    other's pods."""
    canary = copy.deepcopy(dep)
    meta = canary["metadata"]
    meta["name"] = f"{meta['name']}-canary"
    for m in (
        canary["spec"]["selector"]["matchLabels"],
        canary["spec"]["template"]["metadata"]["labels"],
    ):
        m["track"] = "canary"
    canary["spec"]["replicas"] = replicas
    _env(model_container(canary), "SERVEGATE_SIM_MODEL_VERSION", version)
    return canary


def with_stable_track(objs: list[Obj]) -> list[Obj]:
    out = copy.deepcopy(objs)
    dep = deployment(out)
    dep["spec"]["selector"]["matchLabels"]["track"] = "stable"
    dep["spec"]["template"]["metadata"]["labels"]["track"] = "stable"
    return out


def peak_pods(dep: Obj, rolls: bool, extra: int = 0) -> int:
    """The most model-server pods a check's Deployment ``dep`` runs at once: its replicas,
    plus its rolling update's surge when the check rolls it (``maxSurge`` as a count or a
    percentage rounded up, Kubernetes' default 25%), plus ``extra`` pods beside it (a
    canary)."""
    replicas = int(dep["spec"].get("replicas", 1))
    surge = 0
    strategy = dep["spec"].get("strategy") or {}
    if rolls and strategy.get("type", "RollingUpdate") == "RollingUpdate":
        raw = str((strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"))
        surge = -(-replicas * int(raw[:-1]) // 100) if raw.endswith("%") else int(raw)
    return replicas + surge + extra
