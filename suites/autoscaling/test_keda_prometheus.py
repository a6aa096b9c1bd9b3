"""KEDA scales vLLM on a Prometheus query of its queue (components/autoscaling/keda-prometheus).

Setup: vllm-deployment (the run's overlay; its own keda-prometheus ScaledObject), pods
scraped through its ServiceMonitor and, on the simulator, a batch of 2 sequences so a small
load queues;
once ready, the test variant of the ScaledObject (servegate/checks/autoscaling/scaledobject.py:
short polling and stabilisation, at most 2 replicas) with the component's query scoped to this
run's namespace, sent to the node's Prometheus; KEDA's HPA waited for. Assess: the keda-ramp
profile (1 -> 12 users) drives the Service; the HPA must ask for 2 replicas within 75 s of the
load's start; after the load it must come back to 1 within 90 s. With the profile as shipped
(a new connection every 2 requests) every replica Ready for >= 30 s of the load must have
served requests; the keep-alive variant (same profile, kept connections) only reports each
replica's requests (a finding: the added one gets few or none). Replicas, queue depth,
server-side p50 / p99 latency and requests per pod are sampled every 2 s into the report,
next to the load run's own report. Teardown: the unit torn down (events and logs kept).
"""

from __future__ import annotations

import pytest

from servegate.checks.autoscaling.connections import (
    CHURN,
    KEEP_ALIVE,
    VARIANTS,
    assert_replicas_served,
    most_completions,
    per_pod_figures,
    ramp_profile,
    replicas_served_verdict,
)
from servegate.checks.autoscaling.hpa import load_end_wall
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


@pytest.mark.parametrize("connections", VARIANTS)
def test_keda_scales_on_prometheus_queue_depth(
    sg_addons: NeedAddons,
    keda: KedaScenarios,
    run_profile: RunProfile,
    sg_results: RunResults,
    connections: str,
) -> None:
    sg_addons("keda")
    profile = ramp_profile(RAMP_PROFILE, connections, sg_results.root)
    suffix = "" if connections == CHURN else f"-{KEEP_ALIVE}"
    with keda.prometheus(KNOBS) as sc:
        timings: dict[str, float] = {}
        window: list[float] = []  # the load's start and stop on the series' time axis
        sent: dict[str, int] = {}  # requests the load generator recorded, the most completed

        def data() -> dict[str, object]:
            s = sc.sampler.snapshot()
            start, stop = (window + [sc.sampler.now()] * 2)[:2]
            return {
                **timings,
                "connections": connections,
                **per_pod_figures(s, start, stop, sent.get("n")),
                "replicas_served": replicas_served_verdict(s, start, stop, sent.get("most")),
                "trigger": sc.trigger(),
                "peak_queue": peak(s, "queue_depth"),
            }

        with sc.reported(
            sg_results,
            f"keda-prometheus{suffix}",
            f"KEDA: scaling on a Prometheus query ({connections} connections)",
            data,
        ):
            window.append(sc.sampler.mark("load start"))
            res = run_profile(profile, sc.url, model="auto")
            window.append(sc.sampler.mark("load stop", load_end_wall(res)))
            sent["n"] = res.summary.counts.total
            sent["most"] = most_completions(sent["n"], profile)
            start, stop = window
            assert res.summary.counts.succeeded > 0, f"no request succeeded: {res.summary.counts}"
            # The load ran for longer than the deadline: judge the series recorded meanwhile.
            timings["scale_up_s"] = sc.reached(KNOBS.max_replicas, UP_WITHIN_S, start)
            timings["scale_down_s"] = sc.wait_settled(KNOBS.min_replicas, DOWN_WITHIN_S, stop)
    per_pod = data()
    print(
        f"\nKEDA prometheus ({connections}): {KNOBS.max_replicas} replicas "
        f"{timings['scale_up_s']:.0f}s after the load began, back to 1 "
        f"{timings['scale_down_s']:.0f}s after it ended; requests per pod "
        f"{per_pod['requests_per_pod']}, Ready s during the load {per_pod['ready_s_during_load']}"
    )
    if connections == CHURN:
        assert_replicas_served(sc.sampler.snapshot(), start, stop, sent["most"])
