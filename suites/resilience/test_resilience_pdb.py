"""A PodDisruptionBudget keeps the model server serving through voluntary evictions.

Setup: the vllm-deployment unit (sim overlay) with 2 replicas and the policies component's
PDB. Assess: evict both ready pods through the policy/v1 Eviction API in quick succession:
the first is allowed (201), the second would leave no replica and is refused with 429 by the
disruption budget. Teardown: events and logs saved, namespace deleted.
"""

from __future__ import annotations

from servegate.checks.resilience.env import Resil
from servegate.checks.resilience.fixtures import MARKS
from servegate.checks.resilience.flows import pdb_evictions
from servegate.checks.resilience.k8s import shape
from servegate.checks.resilience.report import publish

pytestmark = MARKS


def test_pdb_refuses_eviction_below_min_available(resil: Resil) -> None:
    f = pdb_evictions(resil, shape(2, "v1", local=resil.local))
    publish(resil, "resilience-pdb", f)
    assert not f.failures, "\n".join(f.failures)
