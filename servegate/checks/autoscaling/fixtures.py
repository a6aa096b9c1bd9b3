"""The ``hpa`` and ``keda`` fixtures and the markers of the HPA checks.

suites/autoscaling re-exports the fixtures from its conftest.py; the meta-tests in
tests/e2e/suites take them into their modules. The decision to skip a check that cannot run
on the overlay is made here: the check modules say why (servegate.checks.autoscaling.hpa's
``not_served``), the fixtures skip with that reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.checks.autoscaling.hpa import HpaCheck
from servegate.checks.autoscaling.scenarios import KedaScenarios
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.harness.load import RunProfile
from servegate.harness.scaling import SamplerFactory
from servegate.harness.settings import Settings
from servegate.report.run_index import RunResults

NOT_ON_ENGINE = (
    "not on the engine overlay: this check builds its queue through the simulator's knobs "
    "(SERVEGATE_SIM_*) and scales on vLLM's metric names, which llama-server has neither of; "
    "the engine overlays scale on llamacpp:requests_deferred instead (docs/engine.md)"
)
"""Why the KEDA checks skip on the engine overlay (the HPA checks say why per check:
servegate.checks.autoscaling.overlays.not_served)."""

NOT_ON_LLMD = (
    "not on the llmd overlay: the KEDA scenarios build their queue through the simulator's "
    "SERVEGATE_SIM_* variables, which llm-d-inference-sim does not read (the HPA checks pass "
    "it the matching flags instead)"
)

HPA_MARKS = [
    pytest.mark.conformance,
    pytest.mark.benchmark,
    pytest.mark.e2e,
    pytest.mark.vllm_deployment,
]
"""``pytestmark`` of the HPA checks: pass/fail, with figures reported, on vllm-deployment."""


def hpa_check(
    cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    scaling_sampler: SamplerFactory,
    results: RunResults,
    overlay: str,
) -> HpaCheck:
    """The HPA checks' steps on the overlay; a variant the overlay cannot serve skips the
    check with the reason (``HpaCheck.variant``, ``HpaCheck.ramp``)."""
    return HpaCheck(
        cluster, deploy_unit, run_profile, scaling_sampler, results, overlay, pytest.skip
    )


@pytest.fixture
def hpa(
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    scaling_sampler: SamplerFactory,
    sg_results: RunResults,
    sg_settings: Settings,
) -> HpaCheck:
    """The HPA checks' variant, deployment, load and judgement, on this test's fixtures."""
    return hpa_check(
        sg_cluster, deploy_unit, run_profile, scaling_sampler, sg_results, sg_settings.overlay
    )


@pytest.fixture
def keda(
    sg_cluster: ClusterHandle, deploy_unit: DeployUnit, sg_test_dir: Path, sg_settings: Settings
) -> KedaScenarios:
    """The KEDA checks' two scenarios (Redis list, Prometheus query), on this test's fixtures."""
    if sg_settings.overlay == "engine":
        pytest.skip(NOT_ON_ENGINE)
    if sg_settings.overlay == "llmd":
        pytest.skip(NOT_ON_LLMD)
    return KedaScenarios(sg_cluster, deploy_unit, sg_test_dir)


__all__ = ["hpa", "keda"]
