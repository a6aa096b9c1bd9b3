"""Fixtures of the pattern benchmarks, re-exported by suites/benchmark/patterns/conftest.py."""

from __future__ import annotations

import pytest

from servegate.checks.patterns.report import PatternTable
from servegate.report.run_index import RunResults


@pytest.fixture(scope="session")
def pattern_table(sg_results: RunResults) -> PatternTable:
    """The session index's per-pattern section; each pattern's test adds its row."""
    return PatternTable(sg_results)


__all__ = ["pattern_table"]
