"""The autoscaling checks, shown able to fail: the scale-up and scale-down assertions of
suites/autoscaling are run against deliberately broken HPAs and must fail with a one-line
message naming the target and carrying the replica series.

- an HPA on a custom metric that no adapter rule serves (a typo'd metric name) never scales
  up, although the queue it was meant to follow builds (recorded, so the break is the cause);
- an HPA whose minReplicas is 2 never lets the workload come back to 1 replica;
- a CPU HPA on a container without a CPU request cannot compute utilisation and never scales.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

SUITE = Path(__file__).resolve().parents[3] / "suites" / "autoscaling"
if str(SUITE) not in sys.path:
    sys.path.insert(0, str(SUITE))

from autoscale_setup import LoadInBackground, hpa_for, variant  # noqa: E402

from servegate.harness.addons import NeedAddons  # noqa: E402
from servegate.harness.cluster import service_url  # noqa: E402
from servegate.harness.load import RunProfile  # noqa: E402
from servegate.harness.scaling import SamplerFactory  # noqa: E402
from servegate.harness.cluster import ClusterHandle, DeployUnit  # noqa: E402

pytestmark = [pytest.mark.e2e]

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


def test_scale_up_check_fails_when_the_metric_does_not_exist(
    sg_cluster: ClusterHandle,
    sg_addons: NeedAddons,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    scaling_sampler: SamplerFactory,
) -> None:
    sg_addons("prometheus-adapter")
    mutate = variant(
        lambda t: hpa_for(
            "hpa-queue-depth", t, max_replicas=2, metrics=pods_metric("vllm_no_such")
        ),
        QUEUE_SIM,
        drop_gpu=sg_cluster.kind == "local",
    )
    with deploy_unit("vllm-deployment", mutate=mutate, timeout_s=300) as dep:
        svc = dep.find("Service")["metadata"]["name"]
        with (
            service_url(sg_cluster, dep.namespace, svc) as url,
            scaling_sampler(dep.namespace, "vllm", name="broken-metric") as s,
        ):
            load = LoadInBackground(run_profile, "smoke", url, model="auto").start()
            try:
                with pytest.raises(pytest.fail.Exception) as failed:
                    s.wait_reached(2, SHORT_S, since=s.mark("load start"))
            finally:
                load.join(300)
    msg = str(failed.value)
    print(f"\nreported: {msg}")
    assert f"did not reach >= 2 within {SHORT_S:.0f}s (never; peak 1)" in msg
    assert "series 0s:1" in msg and "\n" not in msg
    # The break is the cause: the queue the HPA should have followed did build.
    assert max((x.queue_depth or 0.0) for x in s.samples) > 1
    assert all("vllm_no_such" not in x.metrics for x in s.samples)


def test_scale_down_check_fails_when_min_replicas_keeps_pods_up(
    sg_cluster: ClusterHandle,
    sg_addons: NeedAddons,
    deploy_unit: DeployUnit,
    scaling_sampler: SamplerFactory,
) -> None:
    sg_addons("prometheus-adapter")
    mutate = variant(
        lambda t: hpa_for("hpa-queue-depth", t, min_replicas=2, max_replicas=2),
        QUEUE_SIM,
        drop_gpu=sg_cluster.kind == "local",
    )
    with (
        deploy_unit("vllm-deployment", mutate=mutate, timeout_s=300) as dep,
        scaling_sampler(dep.namespace, "vllm", name="min-two") as s,
    ):
        s.wait_reached(2, 90.0, which="desired")  # the HPA enforces its minimum, no load
        with pytest.raises(pytest.fail.Exception) as failed:
            s.wait_settled(1, 20.0, which="desired")
    msg = str(failed.value)
    print(f"\nreported: {msg}")
    assert "desired replicas did not come back to <= 1 within 20s (never; lowest 2)" in msg


def test_cpu_scale_up_check_fails_without_a_cpu_request(
    sg_cluster: ClusterHandle,
    sg_addons: NeedAddons,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    scaling_sampler: SamplerFactory,
) -> None:
    sg_addons("metrics-server")
    cpu = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 10},
            },
        }
    ]
    mutate = variant(
        lambda t: hpa_for("hpa-cpu", t, min_replicas=1, max_replicas=2, metrics=cpu),
        {"SERVEGATE_SIM_MAX_NUM_SEQS": "64", "SERVEGATE_SIM_DECODE_BASE_S": "0.005"},
        drop_gpu=sg_cluster.kind == "local",
    )

    def no_cpu_request(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = mutate(objects)
        for o in out:
            if o.get("kind") == "Deployment":
                for c in o["spec"]["template"]["spec"]["containers"]:
                    c["resources"].get("requests", {}).pop("cpu", None)
        return out

    with deploy_unit("vllm-deployment", mutate=no_cpu_request, timeout_s=300) as dep:
        svc = dep.find("Service")["metadata"]["name"]
        with (
            service_url(sg_cluster, dep.namespace, svc) as url,
            scaling_sampler(dep.namespace, "vllm", name="no-cpu-request") as s,
        ):
            load = LoadInBackground(run_profile, "smoke", url, model="auto").start()
            try:
                with pytest.raises(pytest.fail.Exception) as failed:
                    s.wait_reached(2, SHORT_S, since=s.mark("load start"))
            finally:
                load.join(300)
    msg = str(failed.value)
    print(f"\nreported: {msg}")
    assert f"did not reach >= 2 within {SHORT_S:.0f}s (never; peak 1)" in msg
    assert all("cpu %" not in x.metrics for x in s.samples)  # no utilisation without a request
