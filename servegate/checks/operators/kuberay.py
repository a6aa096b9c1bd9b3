"""The KubeRay reconcile check's steps: the RayService deployed with its pods on kwok nodes
(nothing runs: the object graph only; Ray itself runs in :mod:`.rayserve`), and reconciled into
one RayCluster with head and worker pods."""

from __future__ import annotations

import contextlib
from typing import Any

from servegate.checks.operators.checks import Obj, assess_rayservice
from servegate.checks.operators.env import (
    KWOK_NODES,
    RAY_UNIT,
    OperatorCheck,
    get_custom,
    list_custom,
    namespace_state,
    pin_ray_pods,
    save,
    until_passes,
)
from servegate.harness.deploy import Deployed


def deploy(check: OperatorCheck) -> contextlib.AbstractContextManager[Deployed]:
    """The ray-serve unit's sim overlay; on the local cluster head and workers go to kwok."""
    pin = (lambda objs: pin_ray_pods(objs, KWOK_NODES)) if check.local else None
    return check.deploy_sim(RAY_UNIT, pin)


def reconciled(
    check: OperatorCheck, dep: Deployed, timeout_s: float
) -> tuple[list[str], dict[str, Any]]:
    """Wait until KubeRay reconciled the RayService as its manifest asks; the failures of the
    last look and what it saw (also saved as ``reconciled.json``)."""
    manifest = dep.find("RayService")
    name = manifest["metadata"]["name"]
    seen: dict[str, Any] = {}

    def assess() -> list[str]:
        seen["rayservice"] = get_custom(check.cluster, "RayService", dep.namespace, name)
        seen["rayclusters"] = list_custom(check.cluster, "RayCluster", dep.namespace)
        state = namespace_state(check.cluster, dep.namespace)
        seen.update(services=state["services"], pods=state["pods"])
        return assess_rayservice(
            manifest, seen["rayservice"], seen["rayclusters"], state["services"], state["pods"]
        )

    failures = until_passes(assess, timeout_s)
    save(check.out_dir, "reconciled", seen)
    return failures, seen


def serve_status(rayservice: Obj) -> str:
    """The RayService's own conditions (or serviceStatus), in one line."""
    status = rayservice.get("status", {})
    conds = ", ".join(
        f"{c.get('type')}={c.get('status')} ({c.get('reason')})"
        for c in status.get("conditions") or []
    )
    return conds or str(status.get("serviceStatus") or "no status")


def summary(seen: dict[str, Any]) -> str:
    """What a passing check saw, for the operators section."""
    workers = sum(
        1
        for p in seen.get("pods", [])
        if p.get("metadata", {}).get("labels", {}).get("ray.io/node-type") == "worker"
    )
    return (
        f"1 RayCluster, head Service, 1 head pod, {workers} GPU worker pods as in the "
        f"manifest (on kwok nodes); RayService status: {serve_status(seen['rayservice'])}"
    )
