"""The isolation checks' fixture, for the meta-tests that prove each check can fail: the same
Setup as the suite's, reported in its own section, ``isolation-meta``."""

from __future__ import annotations

import pytest

from servegate.checks.isolation.fixtures import isolation

__all__ = ["isolation"]


@pytest.fixture(scope="module")
def isolation_section() -> str:
    """The meta-tests' report section, apart from the suite's ``isolation``."""
    return "isolation-meta"
