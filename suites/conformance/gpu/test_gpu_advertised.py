"""Check 1: GPU nodes advertise the allocatable GPUs their feature-discovery labels promise.

Setup: none (read-only). Assess: for every GPU node, allocatable nvidia.com/gpu (or MIG
profiles, or time-sliced replicas) against nvidia.com/gpu.count/.replicas/mig.strategy, and
the product label against its family and memory. Teardown: none.
"""

from __future__ import annotations

import pytest

from servegate.checks.gpu.assess import assess_advertised
from servegate.checks.gpu.namespace import read_state
from servegate.harness.cluster import ClusterHandle

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_gpu_nodes_advertise_what_their_labels_say(gpu_cluster: ClusterHandle) -> None:
    state = read_state(gpu_cluster.client)
    failures = assess_advertised(state.nodes)
    assert not failures, "\n".join(failures)
