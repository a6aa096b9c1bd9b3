"""The Ray Serve checks, shown able to fail against Ray itself: one RayService, broken in two
ways on purpose, deployed on servegate's Ray image.

- A third Serve application whose import path names a function that does not exist: Serve
  reports it DEPLOY_FAILED, and the serving check names that application and nothing else
  (the two unbroken applications in the same RayService pass it).
- The worker declares two GPUs and each model runs one replica asking for 0.6 of one: Ray
  cannot put both on one GPU, and the GPU-sharing check reports the models on different GPUs.
(The same checks pass on the unbroken unit in suites/conformance/operators.)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from servegate.checks.operators import rayserve
from servegate.checks.operators.env import OperatorCheck
from servegate.checks.operators.ledger import OperatorLedger
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.ray_serve]

Obj = dict[str, Any]
GOOD = ["text-generation", "embedding"]
TIMEOUT_S = 300.0
"""The broken RayService settles in about 45 s after deploy here (Ray's start); the bound
only limits what a failing run costs the CI."""


class _Sink:
    def section(self, name: str, title: str, markdown: str, data: dict[str, Any]) -> None:
        """The meta-test's ledger is not the session's: nothing is written."""


def _broken(objects: list[Obj]) -> list[Obj]:
    out = []
    for o in objects:
        if o.get("kind") == "RayService":
            o = copy.deepcopy(o)
            config = yaml.safe_load(o["spec"]["serveConfigV2"])
            for app in config["applications"]:
                for dep in app["deployments"]:
                    dep["num_replicas"] = 1  # two 0.6-GPU replicas fit, one on each GPU
                    dep["ray_actor_options"]["num_gpus"] = 0.6
            broken = copy.deepcopy(config["applications"][1])
            broken.update(name="broken", route_prefix="/broken")
            broken["import_path"] = "servegate.rayserve.app:no_such_builder"
            config["applications"].append(broken)
            o["spec"]["serveConfigV2"] = yaml.safe_dump(config, sort_keys=False)
            worker = o["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
            worker["rayStartParams"]["num-gpus"] = "2"
            res = worker["template"]["spec"]["containers"][0]["resources"]
            res["requests"]["nvidia.com/gpu"] = res["limits"]["nvidia.com/gpu"] = 2
        out.append(o)
    return out


def test_serving_and_sharing_checks_fail_on_a_broken_rayservice(
    sg_cluster: ClusterHandle, deploy_unit: DeployUnit, tmp_path: Path
) -> None:
    check = OperatorCheck(sg_cluster, deploy_unit, OperatorLedger(_Sink()), tmp_path)
    check.need("kuberay", "ray-serve")
    with rayserve.serving(check, _broken) as ray:
        assert set(ray.apps) == {*GOOD, "broken"}

        def settled() -> bool:
            ray.look()
            apps = ray.seen.get("serve", {}).get("applications") or {}
            states = {a: (apps.get(a) or {}).get("status") for a in (*GOOD, "broken")}
            return states == {
                "text-generation": "RUNNING",
                "embedding": "RUNNING",
                "broken": "DEPLOY_FAILED",
            }

        assert wait_until(settled, TIMEOUT_S, interval_s=5.0), ray.seen.get("serve")
        failures = ray.look()
        sharing, reports = ray.gpu_sharing(GOOD)
    assert any("'broken' is DEPLOY_FAILED" in f for f in failures), failures
    assert not [f for f in failures if "text-generation" in f or "embedding" in f], failures
    assert any("different GPUs" in f for f in sharing), sharing
    assert {r["app"] for r in reports} == set(GOOD)
    assert all(len(r["gpu_ids"]) == 1 for r in reports), reports
