"""KEDA scales vLLM on a Prometheus query of its queue (components/autoscaling/keda-prometheus).

Setup: vllm-deployment (the run's overlay; its own keda-prometheus ScaledObject), pods
annotated for scraping and, on the simulator, a batch of 2 sequences so a small load queues;
once ready, the test variant of the ScaledObject (servegate/checks/autoscaling/scaledobject.py:
short polling and stabilisation, at most 2 replicas) with the component's query scoped to this
run's namespace, sent to the node's Prometheus; KEDA's HPA waited for. Assess: the keda-ramp
profile (1 -> 12 users) drives the Service; the HPA must ask for 2 replicas within 75 s of the
load's start; after the load it must come back to 1 within 90 s. Replicas, queue depth and
server-side p50 / p99 latency are sampled every 2 s into the report, next to the load run's
own report. Teardown: the unit torn down (events and logs kept).
"""

from __future__ import annotations

import pytest

from servegate.checks.autoscaling.scaledobject import Knobs
from servegate.checks.autoscaling.scenarios import RAMP_PROFILE, KedaScenarios
from servegate.harness.addons import NeedAddons
from servegate.harness.load import RunProfile
from servegate.metrics.scaling import peak
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.conformance, pytest.mark.e2e, pytest.mark.vllm_deployment]

KNOBS = Knobs(max_replicas=2)
UP_WITHIN_S = 75.0
DOWN_WITHIN_S = 90.0


def test_keda_scales_on_prometheus_queue_depth(
    sg_addons: NeedAddons, keda: KedaScenarios, run_profile: RunProfile, sg_results: RunResults
) -> None:
    sg_addons("keda")
    with keda.prometheus(KNOBS) as sc:
        timings: dict[str, float] = {}
        served: dict[str, int] = {}  # reported, not asserted: did the added replica serve?
        with sc.reported(
            sg_results,
            "keda-prometheus",
            "KEDA: scaling on a Prometheus query",
            lambda: {
                **timings,
                "requests_per_pod": served,
                "trigger": sc.trigger(),
                "peak_queue": peak(sc.sampler.snapshot(), "queue_depth"),
            },
        ):
            start = sc.sampler.mark("load start")
            res = run_profile(RAMP_PROFILE, sc.url, model="auto")
            stop = sc.sampler.mark("load stop")
            assert res.summary.counts.succeeded > 0, f"no request succeeded: {res.summary.counts}"
            served = sc.requests_per_pod(sc.sampler.now() - start)
            # The load ran for longer than the deadline: judge the series recorded meanwhile.
            timings["scale_up_s"] = sc.reached(KNOBS.max_replicas, UP_WITHIN_S, start)
            timings["scale_down_s"] = sc.wait_settled(KNOBS.min_replicas, DOWN_WITHIN_S, stop)
    print(
        f"\nKEDA prometheus: {KNOBS.max_replicas} replicas {timings['scale_up_s']:.0f}s after "
        f"the load began, back to 1 {timings['scale_down_s']:.0f}s after it ended; "
        f"requests served per pod during the load: {served}"
    )
