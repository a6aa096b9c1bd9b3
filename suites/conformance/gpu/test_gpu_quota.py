"""Check 4: a pod over the namespace's GPU ResourceQuota is refused at admission.

Setup: the seed article's ResourceQuota (requests/limits nvidia.com/gpu, here 2) in a fresh
namespace, and a 1-GPU pod inside it. Assess: a 2-GPU pod (3 > 2) is refused with 403 and a
message saying "exceeded quota" for requests.nvidia.com/gpu. Teardown: namespace deleted.
"""

from __future__ import annotations

import pytest

from servegate.checks.gpu.assess import assess_quota
from servegate.checks.gpu.namespace import GpuNamespace
from servegate.checks.gpu.setup import quota_setup

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]


def test_pod_over_gpu_quota_is_rejected(gpu_ns: GpuNamespace) -> None:
    failures = assess_quota(quota_setup(gpu_ns))
    assert not failures, "\n".join(failures)
