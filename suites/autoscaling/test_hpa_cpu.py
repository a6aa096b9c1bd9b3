"""HPA on CPU utilisation through metrics-server.

Setup: the metrics-server add-on (local cluster) or an existing resource metrics API; the
vllm-deployment unit with the reference hpa-cpu component aimed at its Deployment (scale-down
shortened, see autoscale_setup.py). Assess: under the ramp-autoscale profile the HPA reaches
>= 2 ready replicas within UP_DEADLINE_S of the load start and is back to 1 within
DOWN_DEADLINE_S of the load stop; replicas, CPU utilisation, queue depth and latency are
sampled and plotted in the session report. Teardown: load waited for, namespace deleted.

The simulator does little work per token, so the test variant requests CPU_REQUEST and sets
CPU_TARGET_PCT (see docs/suites-autoscaling.md for the measured usage): with the reference
250m request and 70 % target, a simulator pod under this ramp would never cross the target.
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

# No queue here (many sequences per replica): the simulator's per-token work is what loads it.
SIM_ENV = {"SERVEGATE_SIM_MAX_NUM_SEQS": "64", "SERVEGATE_SIM_DECODE_BASE_S": "0.005"}
CPU_REQUEST = "50m"
CPU_TARGET_PCT = 60
MAX_REPLICAS = 3
UP_DEADLINE_S = 100.0
DOWN_DEADLINE_S = 100.0


def cpu_metric(target_pct: int) -> list[dict[str, object]]:
    return [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": target_pct},
            },
        }
    ]


def test_hpa_scales_up_and_down_on_cpu(
    sg_cluster: ClusterHandle,
    sg_addons: NeedAddons,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    scaling_sampler: SamplerFactory,
    sg_results: RunResults,
) -> None:
    sg_addons("metrics-server")
    mutate = variant(
        lambda target: hpa_for(
            "hpa-cpu",
            target,
            min_replicas=1,
            max_replicas=MAX_REPLICAS,
            metrics=cpu_metric(CPU_TARGET_PCT),
        ),
        SIM_ENV,
        cpu_request=CPU_REQUEST,
        drop_gpu=sg_cluster.kind == "local",
    )
    fx = Fixtures(sg_cluster, deploy_unit, run_profile, scaling_sampler, sg_results)
    res, samples, figures = ramp_and_measure(
        fx,
        mutate,
        "hpa-cpu",
        f"Autoscaling: HPA on CPU ({CPU_TARGET_PCT}% of {CPU_REQUEST}, metrics-server)",
        UP_DEADLINE_S,
        DOWN_DEADLINE_S,
    )
    assert res.summary.counts.succeeded > 0, f"no request succeeded: {res.summary.counts.errors}"
    peak_cpu = max((x.metrics.get("cpu %", 0.0) for x in samples), default=0.0)
    assert peak_cpu > CPU_TARGET_PCT, f"CPU never crossed the target ({peak_cpu:.0f}%)"
    print("\n" + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))
