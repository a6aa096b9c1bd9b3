"""Rolling update, canary and rollback of a new model version under steady load.

Setup: the vllm-deployment unit (sim overlay) shaped for zero downtime: readiness and startup
probes, maxSurge 1 / maxUnavailable 0, a preStop pause, a server draining on SIGTERM; each
pod reports its version (SERVEGATE_SIM_MODEL_VERSION) on every response. Disruption, while
the ``rollout`` profile runs and a probe asks /v1/models on fresh connections: change the
version / add a canary Deployment behind the Service and abort it / change then roll back.
Assess: the load run's errors (by kind) within loadprofiles/slo/rollout-budget.yaml; the
canary's share of responses near its share of pods; only the expected version answers once
the change is complete. Teardown: events and logs saved, namespace deleted.
"""

from __future__ import annotations

from servegate.checks.resilience.env import Resil
from servegate.checks.resilience.fixtures import MARKS
from servegate.checks.resilience.flows import canary, rollback_flow, rolling_update
from servegate.checks.resilience.report import publish

pytestmark = MARKS


def test_rolling_update_within_error_budget(resil: Resil) -> None:
    f = rolling_update(resil)
    publish(resil, "resilience-rolling-update", f)
    assert not f.failures, "\n".join(f.failures)


def test_canary_share_and_abort(resil: Resil) -> None:
    f = canary(resil)
    publish(resil, "resilience-canary", f)
    assert not f.failures, "\n".join(f.failures)


def test_rollback_restores_old_version(resil: Resil) -> None:
    f = rollback_flow(resil)
    publish(resil, "resilience-rollback", f)
    assert not f.failures, "\n".join(f.failures)
