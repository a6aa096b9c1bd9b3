"""Every resilience check, shown able to fail: the same flow as suites/resilience, run on a
deliberately broken configuration, must report what is wrong.

- PDB: the unit without its PodDisruptionBudget, and with one selecting no pod.
- Rolling update: the reference Deployment as it was shipped before issue 10 (one replica,
  maxSurge 0 / maxUnavailable 1, no preStop, a server that cuts requests off on SIGTERM).
- Canary: a canary scaled to half the pods while a quarter of the traffic was intended.
- Rollback: the version changed and never rolled back.

The unbroken counterparts are the suite's own tests. ``-s`` prints each message.
"""

from __future__ import annotations

import pytest

from servegate.checks.resilience.env import Resil
from servegate.checks.resilience.flows import (
    Finding,
    canary,
    pdb_evictions,
    rollback_flow,
    rolling_update,
)
from servegate.checks.resilience.k8s import pdb_selecting_nothing, shape

pytestmark = [pytest.mark.e2e]


def _fails(f: Finding, *needles: str) -> None:
    print("\nreported:\n" + "\n".join(f.failures))
    assert f.failures, f"{f.what}: the check passed on a broken configuration"
    text = "\n".join(f.failures)
    for needle in needles:
        assert needle in text, f"{needle!r} not in the failure message:\n{text}"


def test_pdb_check_fails_without_a_pdb(resil: Resil) -> None:
    f = pdb_evictions(resil, shape(2, "v1", local=resil.local, pdb=False))
    _fails(f, "eviction 2 of pod", "was allowed", "is a PodDisruptionBudget selecting these pods?")


def test_pdb_check_fails_with_a_pdb_selecting_nothing(resil: Resil) -> None:
    base = shape(2, "v1", local=resil.local)
    f = pdb_evictions(resil, lambda objs: pdb_selecting_nothing(base(objs)))
    _fails(f, "was allowed", "should be refused with 429")


def test_budget_check_fails_on_the_old_reference_rollout(resil: Resil) -> None:
    f = rolling_update(resil, safe=False)
    _fails(f, "requests failed", "over the rollout-budget error budget", "by kind:")


def test_share_check_fails_on_an_oversized_canary(resil: Resil) -> None:
    f = canary(resil, canary_replicas=3, stable=3, expected=0.25)
    _fails(f, "v2 served", "expected 25.0%")


def test_rollback_check_fails_when_nothing_is_rolled_back(resil: Resil) -> None:
    f = rollback_flow(resil, undo=False)
    _fails(f, "after the rollback", "came from other versions {'v2'", "expected only v1")
