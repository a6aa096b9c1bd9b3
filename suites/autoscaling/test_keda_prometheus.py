"""KEDA scales vLLM on a Prometheus query of its queue (components/autoscaling/keda-prometheus).

Setup: vllm-deployment (the run's overlay; its own keda-prometheus ScaledObject), pods
annotated for scraping and, on the simulator, a batch of 2 sequences so a small load queues;
once ready, the test variant of the ScaledObject (keda_variant: short polling and
stabilisation, at most 2 replicas) with the component's query scoped to this run's namespace,
sent to the node's Prometheus; KEDA's HPA waited for. Assess: the keda-ramp profile (1 -> 12
users) drives the Service; the HPA must ask for 2 replicas within 75 s of the load's start;
after the load it must come back to 1 within 90 s. Replicas, queue depth and server-side p50 /
p99 latency are sampled every 2 s into the report, next to the load run's own report.
Teardown: the unit torn down (events and logs kept).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from keda_env import explained, fail_explained, per_pod
from keda_scenarios import RAMP_PROFILE, prometheus_scenario
from keda_variant import Knobs

from servegate.harness.addons import NeedAddons
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.harness.load import RunProfile
from servegate.metrics.scaling import check_reached, first_time, peak
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.conformance, pytest.mark.e2e, pytest.mark.vllm_deployment]

KNOBS = Knobs(max_replicas=2)
UP_WITHIN_S = 75.0
DOWN_WITHIN_S = 90.0


def test_keda_scales_on_prometheus_queue_depth(
    sg_cluster: ClusterHandle,
    sg_addons: NeedAddons,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    sg_results: RunResults,
    sg_test_dir: Path,
) -> None:
    sg_addons("keda")
    with prometheus_scenario(sg_cluster, deploy_unit, sg_test_dir, KNOBS) as sc:
        s = sc.sampler
        timings: dict[str, float] = {}
        served: dict[str, int] = {}
        try:
            start = s.mark("load start")
            res = run_profile(RAMP_PROFILE, sc.url, model="auto")
            stop = s.mark("load stop")
            assert res.summary.counts.succeeded > 0, f"no request succeeded: {res.summary.counts}"
            served = _requests_per_pod(sc.sample_url, sc.namespace, s.now() - start)
            # The load ran for longer than the deadline: judge the series recorded meanwhile.
            series = s.snapshot()
            reason = check_reached(series, KNOBS.max_replicas, UP_WITHIN_S, start, "desired")
            if reason is not None:
                fail_explained(sg_cluster, sc.namespace, sc.so_name, reason)
            reached = first_time(series, KNOBS.max_replicas, None, start, "desired")
            timings["scale_up_s"] = (reached or start) - start
            timings["scale_down_s"] = explained(
                sg_cluster,
                sc.namespace,
                sc.so_name,
                lambda: s.wait_settled(KNOBS.min_replicas, DOWN_WITHIN_S, stop, "desired"),
            )
        finally:
            s.report(
                sg_results,
                "keda-prometheus",
                "KEDA: scaling on a Prometheus query",
                extra={
                    **timings,
                    "requests_per_pod": served,
                    "trigger": sc.trigger(),
                    "peak_queue": peak(s.snapshot(), "queue_depth"),
                },
            )
    print(
        f"\nKEDA prometheus: {KNOBS.max_replicas} replicas {timings['scale_up_s']:.0f}s after "
        f"the load began, back to 1 {timings['scale_down_s']:.0f}s after it ended; "
        f"requests served per pod during the load: {served}"
    )


def _requests_per_pod(prometheus_url: str | None, namespace: str, seconds: float) -> dict[str, int]:
    """Not asserted, reported: whether the added replica took any of the load. Clients that
    keep their connections open (Locust, most gateways) stay on the pods they first reached."""
    if prometheus_url is None:
        return {}
    sel = f'namespace="{namespace}"'
    window = f"{int(seconds) + 10}s"
    query = f"sum by (pod) (increase(vllm:request_success_total{{{sel}}}[{window}]))"
    return {pod: round(n) for pod, n in per_pod(prometheus_url, query).items()}
