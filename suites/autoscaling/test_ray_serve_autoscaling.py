"""Serve's own autoscaling: replicas added under a ramp and removed after.

Setup: Ray Serve running for real (the ray-serve sim overlay on servegate's Ray image, see
suites/conformance/operators/test_ray_serve_running.py), with the text-generation deployment's
``num_replicas`` replaced by an ``autoscaling_config`` (1 to 3 replicas, target 2 ongoing
requests each) and the worker declaring two GPUs and two CPUs, so three text-generation
replicas and the two embedding ones (a quarter GPU and a quarter CPU each) fit.
Assess: while loadprofiles/ray-serve-ramp.yaml runs through the serve Service, Serve's status
(its REST API, sampled every 2 s) shows more RUNNING text-generation replicas than the minimum
and never more than the maximum; within 120 s of the load's end it is back at exactly the
minimum; the ramp's requests failed no more often than loadprofiles/slo/rollout-budget.yaml
allows (0.5 %: adding and removing replicas is a planned change, and replicas that answer
errors are no capacity). Teardown: the deploy fixture saves events and logs and deletes the
namespace.
"""

from __future__ import annotations

import json

import pytest

from servegate.checks.operators import rayserve
from servegate.checks.operators.env import OperatorCheck
from servegate.checks.operators.raychecks import assess_serve_autoscaling
from servegate.checks.patterns.env import wait_serving
from servegate.checks.resilience.checks import assess_budget
from servegate.checks.resilience.env import load_budget
from servegate.checks.resilience.load import errors_by_kind
from servegate.harness.load import RunProfile
from servegate.wait import wait_until

pytestmark = [pytest.mark.conformance, pytest.mark.e2e, pytest.mark.ray_serve]

APP, DEPLOYMENT = "text-generation", "TextGeneration"
MIN, MAX = 1, 3
AUTOSCALING = {
    "min_replicas": MIN,
    "max_replicas": MAX,
    "target_ongoing_requests": 2,
    "upscale_delay_s": 2,
    "downscale_delay_s": 10,
    "look_back_period_s": 5,
}
RUNNING_TIMEOUT_S = 600.0
SCALE_DOWN_TIMEOUT_S = 120.0


def test_serve_autoscaler_adds_replicas_under_ramp_and_removes_them(
    operator_check: OperatorCheck, run_profile: RunProfile
) -> None:
    operator_check.need("kuberay", "ray-serve")
    scaled = rayserve.with_autoscaling(APP, DEPLOYMENT, AUTOSCALING, worker_gpus=2)
    with rayserve.serving(operator_check, scaled) as ray:
        operator_check.stop_on("ray-serve", "serving", ray.wait_running(RUNNING_TIMEOUT_S))
        with ray.url("serve") as url, ray.url("dashboard") as dashboard:
            wait_serving(url)
            with rayserve.ReplicaSampler(dashboard, APP, DEPLOYMENT) as sampler:
                res = run_profile("ray-serve-ramp", url, model="auto")
                load_end = sampler.now()
                wait_until(lambda: sampler.since(load_end) == MIN, SCALE_DOWN_TIMEOUT_S, 2.0)
            samples = list(sampler.samples)
    (operator_check.out_dir / "replicas.json").write_text(
        json.dumps({"load_end_s": load_end, "samples": samples}) + "\n"
    )
    failures = assess_serve_autoscaling(samples, load_end, MIN, MAX)
    errors, total = errors_by_kind(res.summary), int(res.summary.counts.total)
    failures += assess_budget(errors, total, load_budget(), "the ramp under Serve autoscaling")
    most = max((n for _, n in samples), default=0)
    operator_check.ledger.outcome(
        "ray-serve",
        "Serve autoscaling (autoscaling_config) under a ramp and after",
        failures,
        f"{APP}/{DEPLOYMENT}: {MIN} -> {most} RUNNING replicas under ray-serve-ramp "
        f"({res.summary.throughput.requests_per_s:.1f} req/s, {total} requests, errors "
        f"{errors or 'none'}), back to {MIN} after",
    )
    assert not failures, "\n".join(failures)
