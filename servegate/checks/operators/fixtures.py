"""Fixtures of the operator checks, re-exported by suites/conformance/operators/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servegate.checks.operators.env import OperatorCheck
from servegate.checks.operators.ledger import OperatorLedger
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.report.run_index import RunResults


@pytest.fixture(scope="session")
def operator_ledger(sg_results: RunResults) -> Iterator[OperatorLedger]:
    """The session's "operators" section, written at once and after every record."""
    ledger = OperatorLedger(sg_results)
    ledger.write()
    yield ledger
    ledger.write()


@pytest.fixture
def operator_check(
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    operator_ledger: OperatorLedger,
    sg_test_dir: Path,
) -> OperatorCheck:
    """One operator test's cluster, unit deployer, ledger and results directory."""
    return OperatorCheck(sg_cluster, deploy_unit, operator_ledger, sg_test_dir)


__all__ = ["operator_check", "operator_ledger"]
