"""Check 3: placement honours product affinity, MIG, time-slicing and spot tolerations.

Setup (fixture ``placed``, shared with check 2). Assess, per aspect: each pod's node satisfies
its nodeSelector and required affinity, tolerates the node's taints, and is of the product,
sharing mode and capacity type (spot or not) the pod was meant for. An aspect the cluster
cannot exercise (no MIG node, no time-sliced node, no spot pool) is skipped, naming what is
missing. Teardown (fixture): namespace deleted.
"""

from __future__ import annotations

import pytest
from gpu_checks import assess_placement
from gpu_env import Placed

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


@pytest.mark.parametrize("aspect", ["affinity", "mig", "time-slicing", "spot"])
def test_gpu_placement(placed: Placed, aspect: str) -> None:
    pods = placed.require(aspect)
    assert pods, f"the {aspect} pods of the scenario were not created"
    failures = assess_placement(placed.state.nodes, pods)
    assert not failures, "\n".join(failures)
