"""The fixtures of the GPU checks; suites/conformance/gpu/conftest.py and the meta-tests'
conftest.py re-export them.

``gpu_cluster`` (session): the session's cluster, or a skip naming what is missing when it has
no GPU node. ``gpu_ns``: a fresh namespace of the run per check, always deleted. ``placed``
(module): the placement scenario, set up once for the allocation and placement checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servegate.checks.gpu import model as m
from servegate.checks.gpu.namespace import GpuNamespace, gpu_namespace, read_state
from servegate.checks.gpu.objects import use_image
from servegate.checks.gpu.setup import Placed, placement_setup
from servegate.harness.cluster import ClusterHandle
from servegate.k8s.nodes import is_real_node
from servegate.report.run_index import RunResults


@pytest.fixture(scope="session")
def gpu_cluster(sg_cluster: ClusterHandle) -> ClusterHandle:
    """The session's cluster; every GPU check skips, naming what is missing, without GPUs."""
    nodes = read_state(sg_cluster.client).nodes
    reason = m.missing_gpu_reason(nodes)
    if reason:
        pytest.skip(reason)
    if any(is_real_node(n) for n in nodes):  # never make the real node pull from the internet
        from servegate.cluster.node.images import PAUSE  # built and imported on that node

        use_image(PAUSE)
    return sg_cluster


@pytest.fixture
def gpu_ns(
    gpu_cluster: ClusterHandle, sg_test_dir: Path, request: pytest.FixtureRequest
) -> Iterator[GpuNamespace]:
    """Setup/Teardown of one check: a fresh namespace of the run, always deleted."""
    with gpu_namespace(gpu_cluster, request.node.name, sg_test_dir) as ns:
        yield ns


@pytest.fixture(scope="module")
def placed(gpu_cluster: ClusterHandle, sg_results: RunResults) -> Iterator[Placed]:
    """Setup shared by the allocation and placement checks: one mixed set of GPU pods in a
    fresh namespace, waited on until each is bound or unschedulable. Teardown: events and
    pod states saved under <results>/gpu-placement/cluster/, namespace deleted."""
    with gpu_namespace(gpu_cluster, "gpu-placement", sg_results.root / "gpu-placement") as ns:
        yield placement_setup(ns)
