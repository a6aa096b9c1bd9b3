from __future__ import annotations

from servegate.report.schema import SCHEMA_PATH, summary_schema_text


def test_stored_summary_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == summary_schema_text(), (
        "summary.schema.json is stale: run `python -m servegate.report.schema`"
    )
