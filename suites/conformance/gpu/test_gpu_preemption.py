"""Check 5: a high-priority GPU pod preempts a lower-priority one when its pool is full.

Setup: two PriorityClasses labelled by the run (the seed's high-priority-ai, and a low one),
an untainted exclusive GPU pool no other workload uses filled with low-priority pods, then a
high-priority pod asking for a whole node of that pool. Assess: the high pod is bound, its
priority is above the victims', and at least one low pod was preempted. Teardown: the
namespace and both PriorityClasses deleted.
"""

from __future__ import annotations

import pytest

from servegate.checks.gpu.assess import assess_preemption
from servegate.checks.gpu.namespace import GpuNamespace
from servegate.checks.gpu.setup import preemption_setup
from servegate.harness.cluster import ClusterHandle
from servegate.harness.settings import Settings

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_high_priority_gpu_pod_preempts_lower(
    gpu_ns: GpuNamespace, gpu_cluster: ClusterHandle, sg_settings: Settings
) -> None:
    if sg_settings.shared and not sg_settings.allow_preemption:
        pytest.skip(
            "not asked for: on a cluster servegate did not make, a preempting pod could evict "
            "other teams' pods that land in the pool meanwhile; --sg-allow-preemption runs it"
        )
    run = preemption_setup(gpu_ns, gpu_cluster.scope.run_id)
    failures = assess_preemption(run.high, run.low_before, run.low_after)
    assert not failures, "\n".join(failures)
