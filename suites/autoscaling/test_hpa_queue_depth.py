"""HPA on vLLM's queue depth (per pod) through Prometheus and prometheus-adapter.

Setup: the prometheus-adapter add-on (local cluster) or an existing custom metrics API; the
vllm-deployment unit with the reference hpa-queue-depth component aimed at its Deployment
(scale-down shortened, see servegate/checks/autoscaling/hpa.py) and a simulator of 2
sequences per replica. Assess: under the ramp-autoscale profile the HPA reaches >= 2 ready
replicas within 100 s of the load start, and is back to 1 within 90 s of the load stop. With
the profile as shipped (a new connection every 2 requests), every replica Ready for >= 30 s of
the load served requests; the keep-alive variant runs the same profile with kept connections
and only reports each replica's requests (the added one gets few or none: a finding).
Replicas, queue depth, the HPA's metric, latency and requests per pod are sampled throughout
and plotted in the session report. Teardown: the load is always waited for, then the
namespace is deleted.

With ``--sg-overlay engine`` (llama.cpp's llama-server, docs/engine.md) the HPA scales on the
engine's own queue, ``llamacpp:requests_deferred`` (requests waiting for a free slot), served
per pod by prometheus-adapter as ``llamacpp_requests_deferred``, same target; the replica has
2 slots (``--parallel 2``) and its decode time is its real compute (the decode knob has no
equivalent). The load opens a new connection per request (ramp-autoscale-engine: the server
closes every streamed connection), per-pod served work is counted in output tokens (the engine
counts no requests) and there is no server-side latency; the keep-alive variant skips.
"""

from __future__ import annotations

import pytest

from servegate.checks.autoscaling.connections import CHURN, VARIANTS, assert_replicas_served
from servegate.checks.autoscaling.fixtures import HPA_MARKS
from servegate.checks.autoscaling.hpa import HpaCheck
from servegate.harness.addons import NeedAddons

pytestmark = HPA_MARKS

# Each replica decodes 2 sequences in 20 ms steps: 12 users leave ~10 waiting on one pod,
# twice the HPA's per-pod target of 5. On the engine: 2 slots, decode at its own speed.
SIM_ENV = {"SERVEGATE_SIM_MAX_NUM_SEQS": "2", "SERVEGATE_SIM_DECODE_BASE_S": "0.02"}


@pytest.mark.parametrize("connections", VARIANTS)
def test_hpa_scales_up_and_down_on_queue_depth(
    sg_addons: NeedAddons, hpa: HpaCheck, connections: str
) -> None:
    sg_addons("prometheus-adapter")
    variant = hpa.variant("hpa-queue-depth", SIM_ENV, max_replicas=3)
    title = f"Autoscaling: HPA on {hpa.queue_metric} (prometheus-adapter)"

    # >= 2 ready replicas within 100 s of the load start, 1 within 90 s of its end.
    ramp = hpa.ramp(
        variant,
        "hpa-queue-depth",
        title,
        up_deadline_s=100.0,
        down_deadline_s=90.0,
        connections=connections,
    )
    counts = ramp.load.summary.counts
    assert counts.succeeded > 0, f"no request succeeded: {counts.errors}"
    peak_queue = max((x.queue_depth or 0.0) for x in ramp.samples)
    assert peak_queue > 0, "the ramp never built a queue: the check proved nothing"
    print(f"\n{connections}: {ramp}")
    if connections == CHURN:
        assert_replicas_served(ramp.samples, ramp.start, ramp.stop, ramp.most)
