"""Check 1: GPU nodes advertise the allocatable GPUs their feature-discovery labels promise.

Setup: none (read-only). Assess: for every GPU node, allocatable nvidia.com/gpu (or MIG
profiles, or time-sliced replicas) against nvidia.com/gpu.count/.replicas/mig.strategy, and
the product label against its family and memory. Teardown: none.

On servegate's own clusters (simulated fleets, the fake device plugin) the labels and the
allocatable both come from the fleet file: the check is then labelled self-consistency. On a
GPU cluster, GPU feature discovery and the device plugin are independent of each other.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from servegate.checks.gpu import model as m
from servegate.checks.gpu.assess import assess_advertised
from servegate.checks.gpu.namespace import read_state
from servegate.harness.cluster import ClusterHandle
from servegate.k8s.nodes import is_real_node

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_gpu_nodes_advertise_what_their_labels_say(
    gpu_cluster: ClusterHandle, sg_self_consistency: Callable[[str], None]
) -> None:
    state = read_state(gpu_cluster.client)
    gpu_nodes = [n for n in state.nodes if m.is_gpu_node(n)]
    if all(m.is_simulated(n) or is_real_node(n) for n in gpu_nodes):
        sg_self_consistency(
            "every GPU node is servegate's (simulated fleet or fake device plugin): its labels "
            "and its allocatable both come from the fleet file"
        )
    failures = assess_advertised(state.nodes)
    assert not failures, "\n".join(failures)
