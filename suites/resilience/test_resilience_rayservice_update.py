"""A RayService update rolled out by KubeRay and Serve under steady load, within the budget.

Setup: Ray Serve running for real (the ray-serve sim overlay on servegate's Ray image, see
suites/conformance/operators/test_ray_serve_running.py), every application's simulator
answering as model version v1. Disruption, while the ``rollout`` profile runs through the
serve Service and a probe asks /v1/models on fresh connections: the RayService's serveConfigV2
is changed to version v2 (what a user's apply does); KubeRay sends it to Serve, which starts
new replicas and drains the old ones.
Assess: the load run's errors (by kind), and the probe's failed requests on new connections,
each within loadprofiles/slo/rollout-budget.yaml; once Serve reports every application RUNNING
at v2, only v2 answers. Teardown: events and logs saved,
namespace deleted.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from servegate.checks.operators import rayserve
from servegate.checks.operators.env import OperatorCheck
from servegate.checks.resilience.checks import assess_budget, assess_only_version, timeline
from servegate.checks.resilience.env import BUDGET_FILE, PROFILE, load_budget
from servegate.checks.resilience.load import background, errors_by_kind, probing, wait_serving
from servegate.harness.load import RunProfile
from servegate.wait import wait_until

pytestmark = [pytest.mark.resilience, pytest.mark.conformance, pytest.mark.e2e]
pytestmark += [pytest.mark.ray_serve]

V1, V2 = "v1", "v2"
RUNNING_TIMEOUT_S = 600.0
UPDATE_TIMEOUT_S = 50.0
"""Serve's update of two two-replica applications, one replica of each at a time: an old one
drains and stops, its replacement starts, then the next (the rollout profile's 60 s load,
begun 8 s before the change, covers it)."""
LOAD_BEFORE_S = 8.0


def test_rayservice_update_within_error_budget(
    operator_check: OperatorCheck, run_profile: RunProfile
) -> None:
    operator_check.need("kuberay", "ray-serve")
    budget, what = load_budget(), f"RayService update {V1} -> {V2}"
    with rayserve.serving(operator_check, rayserve.with_version(V1)) as ray:
        operator_check.stop_on("ray-serve", "serving", ray.wait_running(RUNNING_TIMEOUT_S))
        new = rayserve.versioned_config(ray.dep.find("RayService")["spec"]["serveConfigV2"], V2)
        with ray.url("serve") as url:
            wait_serving(url)
            load = lambda: run_profile(PROFILE, url, slo=str(BUDGET_FILE), model="auto")  # noqa: E731
            with probing(url) as probe, background(load) as run:
                time.sleep(LOAD_BEFORE_S)  # the load's steady state before the change
                changed = probe.now()
                ray.update_serve_config(new)
                rolled = wait_until(lambda: ray.serving_version(V2), UPDATE_TIMEOUT_S, 1.0)
                done = probe.now()
                summary = run.result().summary
            samples = list(probe.samples)
    (operator_check.out_dir / "update-versions.json").write_text(
        json.dumps({"changed_s": changed, "done_s": done, "timeline": timeline(samples)}) + "\n"
    )
    failures = [] if rolled else [f"{what}: Serve not at {V2} within {UPDATE_TIMEOUT_S:g} s"]
    errors = errors_by_kind(summary)
    failures += assess_budget(errors, int(summary.counts.total), budget, what)
    # The probe's fresh connections are requests too: a client that connects during the
    # update must not be refused more often than the budget allows either.
    refused = Counter(s.error for s in samples if s.error is not None)
    failures += assess_budget(dict(refused), len(samples), budget, f"{what}, new connections")
    failures += assess_only_version(samples, V2, done + 1.0, "after the update")
    operator_check.ledger.outcome(
        "ray-serve",
        "RayService update (new serveConfigV2) under load",
        failures,
        f"{V1} -> {V2} rolled out in {done - changed:.1f} s; {int(summary.counts.total)} "
        f"requests, errors {errors or 'none'}; {len(samples)} probe requests on new "
        f"connections, failed {dict(refused) or 'none'} (budget {budget.max_error_rate:.1%})",
    )
    assert not failures, "\n".join(failures)
