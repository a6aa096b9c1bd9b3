"""Check 2: every GPU pod receives exactly what it requests.

Setup (fixture ``placed``): a mixed set of GPU pods (whole GPUs with product affinity and
selectors, MIG slices, time-sliced replicas, spot and on-demand), settled by the scheduler.
Assess: per node, the GPUs requested by bound pods <= allocatable; each pod bound, requests ==
limits, on a node advertising enough of the resource and of the product it required.
Teardown (fixture): namespace deleted.
"""

from __future__ import annotations

import pytest
from gpu_checks import assess_allocation
from gpu_env import Placed

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_every_gpu_pod_gets_what_it_requests(placed: Placed) -> None:
    scenario = placed.pods()
    assert scenario, f"no GPU pod could be created here: {placed.scenario.missing}"
    failures = assess_allocation(placed.state.nodes, placed.state.pods, scenario)
    assert not failures, "\n".join(failures)
