"""The KubeRay operator turns the RayService into a RayCluster with head and worker pods.

Setup: the ``kuberay`` add-on (local cluster: KubeRay v1.5.0's operator built from the Go
module proxy) and the ray-serve unit, sim overlay, its head and worker pods pinned to kwok
nodes (the pods are scheduled and reported Running, nothing runs: the object graph only, in
seconds; Ray and Serve run for real in test_ray_serve_running.py).
Assess: the RayService owns exactly one RayCluster; the RayCluster has a head Service, one head
pod and the manifest's worker replicas, each worker with the manifest's GPU request and limit.
Teardown: the deploy fixture deletes the namespace.
"""

from __future__ import annotations

import pytest

from servegate.checks.operators import kuberay
from servegate.checks.operators.env import OperatorCheck

pytestmark = [pytest.mark.ray_serve, pytest.mark.conformance, pytest.mark.e2e]

RECONCILE_TIMEOUT_S = 180.0


def test_kuberay_reconciles_rayservice_into_cluster_and_pods(
    operator_check: OperatorCheck,
) -> None:
    operator_check.need("kuberay", "ray-serve")
    with kuberay.deploy(operator_check) as dep:
        failures, seen = kuberay.reconciled(operator_check, dep, RECONCILE_TIMEOUT_S)
    operator_check.ledger.outcome(
        "ray-serve",
        "RayService -> RayCluster, head Service, head and worker pods",
        failures,
        kuberay.summary(seen),
    )
    assert not failures, "\n".join(failures)
