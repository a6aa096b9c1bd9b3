"""Check 2b: GPU allocation seen from inside the container.

Setup (fixture ``gpu_ns``): on one node that runs containers and has free whole GPUs, probe
pods asking for one GPU, for two (or one more single one), and for none; each prints the
devices it was given (NVIDIA_VISIBLE_DEVICES from the device plugin, or ``nvidia-smi -L`` with
SERVEGATE_GPU_PROBE_IMAGE on a real GPU cluster). Assess: each pod sees exactly as many
devices as it requested, the zero-GPU pod none, and no device is visible in two pods.
Teardown (fixture): events and pod states saved, namespace deleted.
"""

from __future__ import annotations

import pytest

from servegate.checks.gpu.devices import assess_devices, devices_setup
from servegate.checks.gpu.namespace import GpuNamespace
from servegate.harness.cluster import ClusterHandle

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_gpu_pods_see_exactly_their_devices(
    gpu_cluster: ClusterHandle, gpu_ns: GpuNamespace
) -> None:
    seen = devices_setup(gpu_ns, gpu_cluster.container_nodes)
    failures = assess_devices(seen)
    assert not failures, "\n".join(failures)
