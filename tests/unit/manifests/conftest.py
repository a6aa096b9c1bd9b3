"""Fixtures for the manifest tests; discovery helpers live in manifest_units.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from manifest_units import case_id, golden_cases


@pytest.fixture(params=golden_cases(), ids=case_id)
def golden_case(request: pytest.FixtureRequest) -> tuple[Path, Path]:
    case: tuple[Path, Path] = request.param
    return case
