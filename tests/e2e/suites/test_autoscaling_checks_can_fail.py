"""The autoscaling checks, shown able to fail: the scale-up and scale-down assertions of
suites/autoscaling are run against deliberately broken HPAs and must fail with a one-line
message naming the target and carrying the replica series.

- an HPA on a custom metric that no adapter rule serves (a typo'd metric name) never scales
  up, although the queue it was meant to follow builds (recorded, so the break is the cause);
- an HPA whose minReplicas is 2 never lets the workload come back to 1 replica;
- a CPU HPA on a container without a CPU request cannot compute utilisation and never scales.
"""

from __future__ import annotations

from typing import Any

import pytest

from servegate.checks.autoscaling import fixtures
from servegate.checks.autoscaling.hpa import HpaCheck, Mutate, cpu_metric
from servegate.errors import UserError
from servegate.harness.addons import NeedAddons
from servegate.metrics.scaling import ScalingSample

pytestmark = [pytest.mark.e2e]

hpa = fixtures.hpa  # the suite's fixture (suites/autoscaling/conftest.py), here too

QUEUE_SIM = {"SERVEGATE_SIM_MAX_NUM_SEQS": "1", "SERVEGATE_SIM_DECODE_BASE_S": "0.02"}
SHORT_S = 45.0


def pods_metric(name: str, per_pod: str = "1") -> list[dict[str, object]]:
    return [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": name},
                "target": {"type": "AverageValue", "averageValue": per_pod},
            },
        }
    ]


def _scale_up_failure(hpa: HpaCheck, mutate: Mutate, name: str) -> tuple[str, list[ScalingSample]]:
    """The scale-up check's failure under the smoke profile, and the series it saw."""
    with hpa.served(mutate, name) as sv:
        load = hpa.load("smoke", sv.url).start()
        try:
            with pytest.raises(UserError) as failed:
                sv.sampler.wait_reached(2, SHORT_S, since=sv.sampler.mark("load start"))
        finally:
            load.join(300)
    msg = str(failed.value)
    print(f"\nreported: {msg}")
    assert f"did not reach >= 2 within {SHORT_S:.0f}s (never; peak 1)" in msg
    return msg, sv.sampler.samples


def test_scale_up_check_fails_when_the_metric_does_not_exist(
    sg_addons: NeedAddons, hpa: HpaCheck
) -> None:
    sg_addons("prometheus-adapter")
    mutate = hpa.variant(
        "hpa-queue-depth", QUEUE_SIM, max_replicas=2, metrics=pods_metric("vllm_no_such")
    )
    msg, samples = _scale_up_failure(hpa, mutate, "broken-metric")
    assert "series 0s:1" in msg and "\n" not in msg
    # The break is the cause: the queue the HPA should have followed did build.
    assert max((x.queue_depth or 0.0) for x in samples) > 1
    assert all("vllm_no_such" not in x.metrics for x in samples)


def test_scale_down_check_fails_when_min_replicas_keeps_pods_up(
    sg_addons: NeedAddons, hpa: HpaCheck
) -> None:
    sg_addons("prometheus-adapter")
    mutate = hpa.variant("hpa-queue-depth", QUEUE_SIM, min_replicas=2, max_replicas=2)
    with (
        hpa.deploy_unit("vllm-deployment", mutate=mutate, timeout_s=300) as dep,
        hpa.scaling_sampler(dep.namespace, "vllm", name="min-two") as s,
    ):
        s.wait_reached(2, 90.0, which="desired")  # the HPA enforces its minimum, no load
        with pytest.raises(UserError) as failed:
            s.wait_settled(1, 20.0, which="desired")
    msg = str(failed.value)
    print(f"\nreported: {msg}")
    assert "desired replicas did not come back to 1 within 20s (never; lowest 2)" in msg


def test_cpu_scale_up_check_fails_without_a_cpu_request(
    sg_addons: NeedAddons, hpa: HpaCheck
) -> None:
    sg_addons("metrics-server")
    mutate = hpa.variant(
        "hpa-cpu",
        {"SERVEGATE_SIM_MAX_NUM_SEQS": "64", "SERVEGATE_SIM_DECODE_BASE_S": "0.005"},
        min_replicas=1,
        max_replicas=2,
        metrics=cpu_metric(10),
    )

    def no_cpu_request(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = mutate(objects)
        for o in out:
            if o.get("kind") == "Deployment":
                for c in o["spec"]["template"]["spec"]["containers"]:
                    c["resources"].get("requests", {}).pop("cpu", None)
        return out

    _, samples = _scale_up_failure(hpa, no_cpu_request, "no-cpu-request")
    assert all("cpu %" not in x.metrics for x in samples)  # no utilisation without a request
