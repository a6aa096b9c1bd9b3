"""The KubeRay operator turns the RayService into a RayCluster with head and worker pods.

Setup: the ``kuberay`` add-on (local cluster: KubeRay v1.5.0's operator built from the Go
module proxy) and the ray-serve unit, sim overlay, its head and worker pods pinned to kwok
nodes (no Ray image exists here: the pods are scheduled and reported Running, nothing runs).
Assess: the RayService owns exactly one RayCluster; the RayCluster has a head Service, one head
pod and the manifest's worker replicas, each worker with the manifest's GPU request and limit.
Not exercised (and recorded as such): Ray itself, Ray Serve's HTTP proxy and applications, the
autoscaler, model serving. Teardown: the deploy fixture deletes the namespace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from operators_checks import assess_rayservice
from operators_env import (
    KWOK_NODES,
    RAY_UNIT,
    NeedOperator,
    get_custom,
    list_custom,
    namespace_state,
    pin_ray_pods,
    poll,
    save,
)
from operators_ledger import OperatorLedger

from servegate.harness.cluster import ClusterHandle, DeployUnit

pytestmark = [pytest.mark.ray_serve, pytest.mark.conformance, pytest.mark.e2e]

RECONCILE_TIMEOUT_S = 180.0


def _serve_status(rayservice: dict[str, Any]) -> str:
    status = rayservice.get("status", {})
    conds = ", ".join(
        f"{c.get('type')}={c.get('status')} ({c.get('reason')})"
        for c in status.get("conditions") or []
    )
    return conds or str(status.get("serviceStatus") or "no status")


def test_kuberay_reconciles_rayservice_into_cluster_and_pods(
    sg_cluster: ClusterHandle,
    need_operator: NeedOperator,
    deploy_unit: DeployUnit,
    operator_ledger: OperatorLedger,
    sg_test_dir: Path,
) -> None:
    need_operator("kuberay", "ray-serve")
    mutate = (lambda objs: pin_ray_pods(objs, KWOK_NODES)) if sg_cluster.kind == "local" else None
    with deploy_unit(
        RAY_UNIT, overlay="sim", wait=False, runs_containers=False, mutate=mutate
    ) as dep:
        manifest = dep.find("RayService")
        name = manifest["metadata"]["name"]
        seen: dict[str, Any] = {}

        def assess() -> list[str]:
            seen["rayservice"] = get_custom(sg_cluster, "RayService", dep.namespace, name)
            seen["rayclusters"] = list_custom(sg_cluster, "RayCluster", dep.namespace)
            state = namespace_state(sg_cluster, dep.namespace)
            seen.update(services=state["services"], pods=state["pods"])
            return assess_rayservice(
                manifest,
                seen["rayservice"],
                seen["rayclusters"],
                state["services"],
                state["pods"],
            )

        failures = poll(assess, RECONCILE_TIMEOUT_S)
        save(sg_test_dir, "reconciled", seen)
    workers = sum(
        1
        for p in seen.get("pods", [])
        if p.get("metadata", {}).get("labels", {}).get("ray.io/node-type") == "worker"
    )
    operator_ledger.record(
        "ray-serve",
        "RayService -> RayCluster, head Service, head and worker pods",
        "failed" if failures else "exercised",
        "; ".join(failures[:4])
        or f"1 RayCluster, head Service, 1 head pod, {workers} GPU worker pods as in the "
        f"manifest (on kwok nodes); RayService status: {_serve_status(seen['rayservice'])}",
    )
    assert not failures, "\n".join(failures)
