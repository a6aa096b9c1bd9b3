"""Fixtures for report tests; the builders live in report_runs.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_runs import MakeRun, write_run

from servegate.metrics.record import RequestRecord


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    def make(records: list[RequestRecord], name: str = "run", **kw: Any) -> Path:
        return write_run(tmp_path / name, records, **kw)

    return make
