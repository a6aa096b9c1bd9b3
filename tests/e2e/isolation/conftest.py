"""The isolation checks' helpers and fixture, for the meta-tests that prove each can fail.

suites/conformance/isolation is not a package (pytest imports its modules by directory), so
its directory is put on sys.path here, once, for this directory's tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUITE = Path(__file__).resolve().parents[3] / "suites" / "conformance" / "isolation"
if str(SUITE) not in sys.path:
    sys.path.insert(0, str(SUITE))

from netpol_fixtures import Isolation, isolation_setup  # noqa: E402


@pytest.fixture(scope="module")
def isolation(sg_cluster: Any, sg_addons: Any, sg_results: Any) -> Iterator[Isolation]:
    """Probe pods, baseline and canary, as in the suite; report section ``isolation-meta``."""
    yield from isolation_setup(sg_cluster, sg_addons, sg_results, "isolation-meta")
