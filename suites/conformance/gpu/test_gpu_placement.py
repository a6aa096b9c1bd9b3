"""Checks 2 and 3: every GPU pod gets what it requests; placement honours product affinity,
MIG, time-slicing and spot tolerations.

Setup (fixture ``placed``, once for this module): a mixed set of GPU pods (whole GPUs with
product affinity and selectors, MIG slices, time-sliced replicas, spot and on-demand), settled
by the scheduler. Assess, check 2: per node, the GPUs requested by bound pods <= allocatable;
each pod bound, requests == limits, on a node advertising enough of the resource and of the
product it required. Assess, check 3, per aspect: each pod's node satisfies
its nodeSelector and required affinity, tolerates the node's taints, and is of the product,
sharing mode and capacity type (spot or not) the pod was meant for. An aspect the cluster
cannot exercise (no MIG node, no time-sliced node, no spot pool) is skipped, naming what is
missing. Teardown (fixture): namespace deleted.
"""

from __future__ import annotations

import pytest

from servegate.checks.gpu.assess import assess_allocation, assess_placement
from servegate.checks.gpu.setup import Placed

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_every_gpu_pod_gets_what_it_requests(placed: Placed) -> None:
    scenario = placed.pods()
    assert scenario, f"no GPU pod could be created here: {placed.scenario.missing}"
    failures = assess_allocation(placed.state.nodes, placed.state.pods, scenario)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("aspect", ["affinity", "mig", "time-slicing", "spot"])
def test_gpu_placement(placed: Placed, aspect: str) -> None:
    pods = placed.require(aspect)
    assert pods, f"the {aspect} pods of the scenario were not created"
    failures = assess_placement(placed.state.nodes, pods)
    assert not failures, "\n".join(failures)
