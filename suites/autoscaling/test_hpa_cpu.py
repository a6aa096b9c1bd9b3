"""HPA on CPU utilisation through metrics-server.

Setup: the metrics-server add-on (local cluster) or an existing resource metrics API; the
vllm-deployment unit with the reference hpa-cpu component aimed at its Deployment (scale-down
shortened, see servegate/checks/autoscaling/hpa.py). Assess: under the ramp-autoscale profile
the HPA reaches >= 2 ready replicas within 100 s of the load start and is back to 1 within
100 s of the load stop; every replica Ready for >= 30 s of the load served requests (the
profile opens a new connection every 2 requests); replicas, CPU utilisation, queue depth,
latency and requests per pod are sampled and plotted in the session report. Teardown: load
waited for, namespace deleted.

The simulator does little work per token, so the test variant requests CPU_REQUEST and sets
CPU_TARGET_PCT (see docs/suites-autoscaling.md for the measured usage): with the reference
250m request and 70 % target, a simulator pod under this ramp would never cross the target.
"""

from __future__ import annotations

from servegate.checks.autoscaling.connections import assert_replicas_served
from servegate.checks.autoscaling.fixtures import HPA_MARKS
from servegate.checks.autoscaling.hpa import HpaCheck, cpu_metric
from servegate.harness.addons import NeedAddons

pytestmark = HPA_MARKS

# No queue here (many sequences per replica): the simulator's per-token work is what loads it.
SIM_ENV = {"SERVEGATE_SIM_MAX_NUM_SEQS": "64", "SERVEGATE_SIM_DECODE_BASE_S": "0.005"}
CPU_REQUEST = "50m"
CPU_TARGET_PCT = 60
TITLE = f"Autoscaling: HPA on CPU ({CPU_TARGET_PCT}% of {CPU_REQUEST}, metrics-server)"


def test_hpa_scales_up_and_down_on_cpu(sg_addons: NeedAddons, hpa: HpaCheck) -> None:
    sg_addons("metrics-server")
    variant = hpa.variant(
        "hpa-cpu",
        SIM_ENV,
        cpu_request=CPU_REQUEST,
        min_replicas=1,
        max_replicas=3,
        metrics=cpu_metric(CPU_TARGET_PCT),
    )

    # >= 2 ready replicas within 100 s of the load start, 1 within 100 s of its end.
    ramp = hpa.ramp(variant, "hpa-cpu", TITLE, up_deadline_s=100.0, down_deadline_s=100.0)
    counts = ramp.load.summary.counts
    assert counts.succeeded > 0, f"no request succeeded: {counts.errors}"
    peak_cpu = max((x.metrics.get("cpu %", 0.0) for x in ramp.samples), default=0.0)
    assert peak_cpu > CPU_TARGET_PCT, f"CPU never crossed the target ({peak_cpu:.0f}%)"
    print(f"\n{ramp}")
    assert_replicas_served(ramp.samples, ramp.start, ramp.stop, ramp.most)
