"""The ``resil`` fixture and the markers of the resilience checks.

suites/resilience and the meta-tests in tests/e2e/resilience re-export the fixture from their
conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.checks.resilience.env import Resil, load_budget
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.harness.load import RunProfile
from servegate.harness.settings import Settings
from servegate.report.run_index import RunResults

MARKS = [
    pytest.mark.resilience,
    pytest.mark.conformance,
    pytest.mark.e2e,
    pytest.mark.vllm_deployment,
]
"""``pytestmark`` of every resilience check: the concern, the pattern, and a cluster needed."""


@pytest.fixture
def resil(
    sg_cluster: ClusterHandle,
    sg_settings: Settings,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    sg_results: RunResults,
    sg_test_dir: Path,
) -> Resil:
    if sg_settings.overlay != "sim":
        pytest.skip(
            "the resilience checks need the sim overlay: the per-response model version "
            "comes from the simulator (SERVEGATE_SIM_MODEL_VERSION)"
        )
    return Resil(sg_cluster, deploy_unit, run_profile, sg_results, sg_test_dir, load_budget())
