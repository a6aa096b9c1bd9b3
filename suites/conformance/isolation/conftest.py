"""Fixtures of the network isolation checks (see docs/suites-isolation.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from netpol_fixtures import Isolation, isolation_setup


@pytest.fixture(scope="module")
def isolation(sg_cluster: Any, sg_addons: Any, sg_results: Any) -> Iterator[Isolation]:
    """Probe pods, baseline table and enforcement canary, shared by this module's checks."""
    yield from isolation_setup(sg_cluster, sg_addons, sg_results, "isolation")
