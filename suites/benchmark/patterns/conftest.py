"""Fixtures of the pattern benchmarks (see docs/suites-benchmarks.md)."""

from __future__ import annotations

import pytest
from pattern_report import PatternTable

from servegate.report.run_index import RunResults


@pytest.fixture(scope="session")
def pattern_table(sg_results: RunResults) -> PatternTable:
    return PatternTable(sg_results)
