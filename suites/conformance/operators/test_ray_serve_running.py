"""Ray Serve runs for real: KubeRay's RayService serves two models sharing one GPU.

Setup: the ``kuberay`` add-on (local cluster) and servegate's Ray image (Ray 2.46.0 with the
simulator, built and cached on first use, loaded into the nodes); the ray-serve unit's sim
overlay, head and worker on the real node. KubeRay makes the RayCluster, ``ray start`` runs in
both pods, and Serve deploys the two applications of serveConfigV2 (servegate.rayserve: each
replica serves the simulator), each replica on half of the worker's one GPU.
Assess: (1) KubeRay reports the RayService Ready/Running and Serve's REST API reports both
applications RUNNING and their deployments HEALTHY; (2) the two models share one GPU, as Ray
reports it: each replica's assigned GPU id and fraction (Ray's runtime context), the same
actors ALIVE on the same node in Ray's State API, that node declaring one GPU.
Teardown: the deploy fixture saves events and logs and deletes the namespace.
"""

from __future__ import annotations

import pytest

from servegate.checks.operators import rayserve
from servegate.checks.operators.env import OperatorCheck

pytestmark = [pytest.mark.ray_serve, pytest.mark.conformance, pytest.mark.e2e]

RUNNING_TIMEOUT_S = 600.0
"""Ray's start on 2 busy cores: head, worker, Serve's controller, proxies and replicas."""


def test_rayservice_serves_two_models_sharing_one_gpu(operator_check: OperatorCheck) -> None:
    operator_check.need("kuberay", "ray-serve")
    with rayserve.serving(operator_check) as ray:
        failures = ray.wait_running(RUNNING_TIMEOUT_S)
        operator_check.ledger.outcome(
            "ray-serve",
            "Ray and Serve running: RayService Running, both applications healthy",
            failures,
            rayserve.running_summary(ray),
        )
        assert not failures, "\n".join(failures)
        sharing, reports = ray.gpu_sharing()
    operator_check.ledger.outcome(
        "ray-serve",
        "the two models share one GPU (Ray's actor placement)",
        sharing,
        rayserve.sharing_summary(reports),
    )
    assert not sharing, "\n".join(sharing)
