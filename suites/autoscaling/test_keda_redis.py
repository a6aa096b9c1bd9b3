"""KEDA scales vLLM on the length of a Redis list (components/autoscaling/keda-redis).

Setup: vllm-deployment (the run's overlay) with the keda-redis component instead of
keda-prometheus (manifests/checks/keda-redis); once the Deployment is ready, the test variant
of its ScaledObject (servegate/checks/autoscaling/scaledobject.py: short polling and
stabilisation, at most 4 replicas) pointed at the local cluster's Redis and at a list of this
run; KEDA's HPA waited for. Assess: push 4 x listLength items, the HPA must ask for
ceil(items / listLength) replicas within 90 s; empty the list, it must come back to
minReplicaCount within 90 s. Replicas and list length are sampled every 2 s into the report.
Teardown: list deleted, unit torn down (events and logs kept).
"""

from __future__ import annotations

import pytest

from servegate.checks.autoscaling.scaledobject import Knobs, replicas_for
from servegate.checks.autoscaling.scenarios import KedaScenarios
from servegate.harness.addons import NeedAddons
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.conformance, pytest.mark.e2e, pytest.mark.vllm_deployment]

KNOBS = Knobs(max_replicas=4)
UP_WITHIN_S = 90.0
DOWN_WITHIN_S = 90.0


def test_keda_scales_on_redis_list_length(
    sg_addons: NeedAddons, keda: KedaScenarios, sg_results: RunResults
) -> None:
    sg_addons("redis", "keda")
    with keda.redis(KNOBS) as sc:
        per_replica = int(sc.trigger()["listLength"])
        items = per_replica * KNOBS.max_replicas
        want = replicas_for(items, per_replica, KNOBS)
        timings: dict[str, float] = {}
        with sc.reported(
            sg_results,
            "keda-redis",
            "KEDA: scaling on a Redis list",
            lambda: {"items": items, "target_replicas": want, **timings, "trigger": sc.trigger()},
        ):
            since = sc.sampler.mark(f"{items} items pushed")
            sc.push(items)
            timings["scale_up_s"] = sc.wait_reached(want, UP_WITHIN_S, since)
            since = sc.sampler.mark("list emptied")
            sc.drain()
            timings["scale_down_s"] = sc.wait_settled(KNOBS.min_replicas, DOWN_WITHIN_S, since)
    print(
        f"\nKEDA redis: {want} replicas after {timings['scale_up_s']:.0f}s, "
        f"back to {KNOBS.min_replicas} after {timings['scale_down_s']:.0f}s"
    )
