"""HPA on vLLM's queue depth (per pod) through Prometheus and prometheus-adapter.

Setup: the prometheus-adapter add-on (local cluster) or an existing custom metrics API; the
vllm-deployment unit with the reference hpa-queue-depth component aimed at its Deployment
(scale-down shortened, see autoscale_setup.py) and a simulator of 2 sequences per replica.
Assess: under the ramp-autoscale profile the HPA reaches >= 2 ready replicas within
UP_DEADLINE_S of the load start, and is back to 1 within DOWN_DEADLINE_S of the load stop.
Replicas, queue depth, the HPA's metric and latency are sampled throughout and plotted in the
session report. Teardown: the load is always waited for, then the namespace is deleted.
"""

from __future__ import annotations

import pytest
from autoscale_setup import Fixtures, hpa_for, ramp_and_measure, variant

from servegate.harness.addons import NeedAddons
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.harness.load import RunProfile
from servegate.harness.scaling import SamplerFactory
from servegate.report.run_index import RunResults

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.benchmark,
    pytest.mark.e2e,
    pytest.mark.vllm_deployment,
]

# Each replica decodes 2 sequences in 20 ms steps: 12 users leave ~10 waiting on one pod,
# twice the HPA's per-pod target of 5.
SIM_ENV = {"SERVEGATE_SIM_MAX_NUM_SEQS": "2", "SERVEGATE_SIM_DECODE_BASE_S": "0.02"}
MAX_REPLICAS = 3
UP_DEADLINE_S = 100.0
DOWN_DEADLINE_S = 90.0


def test_hpa_scales_up_and_down_on_queue_depth(
    sg_cluster: ClusterHandle,
    sg_addons: NeedAddons,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    scaling_sampler: SamplerFactory,
    sg_results: RunResults,
) -> None:
    sg_addons("prometheus-adapter")
    mutate = variant(
        lambda target: hpa_for("hpa-queue-depth", target, max_replicas=MAX_REPLICAS),
        SIM_ENV,
        drop_gpu=sg_cluster.kind == "local",
    )
    fx = Fixtures(sg_cluster, deploy_unit, run_profile, scaling_sampler, sg_results)
    res, samples, figures = ramp_and_measure(
        fx,
        mutate,
        "hpa-queue-depth",
        "Autoscaling: HPA on vllm_num_requests_waiting (prometheus-adapter)",
        UP_DEADLINE_S,
        DOWN_DEADLINE_S,
    )
    assert res.summary.counts.succeeded > 0, f"no request succeeded: {res.summary.counts.errors}"
    peak_queue = max((x.queue_depth or 0.0) for x in samples)
    assert peak_queue > 0, "the ramp never built a queue: the check proved nothing"
    print("\n" + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))
