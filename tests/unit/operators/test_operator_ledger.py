"""The "operators" report section: rewritten on every record, one row per aspect."""

from __future__ import annotations

from typing import Any

import pytest

from servegate.checks.operators.ledger import NEVER_EXERCISED, OperatorLedger


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def section(self, name: str, title: str, markdown: str, data: dict[str, Any]) -> None:
        self.calls.append((name, markdown, data))


def test_section_lists_unexercised_parts_even_before_any_check() -> None:
    sink = Sink()
    OperatorLedger(sink).write()
    name, markdown, data = sink.calls[-1]
    assert name == "operators"
    assert markdown.count("(no check ran)") == 2
    for pattern, items in NEVER_EXERCISED.items():
        assert f"### {pattern}" in markdown
        assert all(f"- {item}" in markdown for item in items)
    assert data["entries"] == []


def test_record_rewrites_section_and_replaces_same_aspect() -> None:
    sink = Sink()
    ledger = OperatorLedger(sink)
    ledger.record("kserve", "controller", "failed", "add-on kserve: building | failed")
    ledger.record("kserve", "controller", "exercised", "built in 60 s")
    ledger.record("ray-serve", "controller", "skipped", "not installed")
    assert len(sink.calls) == 3
    _, markdown, data = sink.calls[-1]
    assert [e["status"] for e in data["entries"]] == ["exercised", "skipped"]
    assert "| controller | exercised | built in 60 s |" in markdown
    assert "failed" not in markdown.split("### ray-serve")[0].split("|---|---|---|")[1]


def test_pipes_in_details_are_escaped_and_unknown_status_refused() -> None:
    sink = Sink()
    ledger = OperatorLedger(sink)
    ledger.record("kserve", "controller", "failed", "go build | exit 1")
    assert "go build \\| exit 1" in sink.calls[-1][1]
    with pytest.raises(ValueError, match="unknown status"):
        ledger.record("kserve", "controller", "maybe")
