"""Check outcomes for the session index: which phase settles a test, and the table."""

from __future__ import annotations

import pytest

from pytest_servegate.checks import outcome_of, to_markdown


def _report(when: str, outcome: str, longrepr: object = None) -> pytest.TestReport:
    return pytest.TestReport(
        "suites/x/test_a.py::test_b",
        ("suites/x/test_a.py", 1, "test_b"),
        {"conformance": 1, "e2e": 1},
        outcome,  # type: ignore[arg-type]
        longrepr,  # type: ignore[arg-type]
        when,  # type: ignore[arg-type]
        duration=1.25,
    )


def test_call_phase_settles_and_setup_pass_does_not() -> None:
    assert outcome_of(_report("setup", "passed"), {"conformance"}) is None
    got = outcome_of(_report("call", "passed"), {"conformance", "e2e"})
    assert got is not None and (got.outcome, got.concern) == ("passed", "conformance")


def test_a_skip_in_setup_keeps_its_reason() -> None:
    rep = _report("setup", "skipped", ("f.py", 3, "Skipped: no policy enforcement: install X"))
    got = outcome_of(rep, {"conformance"})
    assert got is not None and got.outcome == "skipped"
    assert got.detail == "no policy enforcement: install X"


def test_setup_and_teardown_failures_are_errors() -> None:
    for when in ("setup", "teardown"):
        got = outcome_of(_report(when, "failed", "boom\nE   cluster unreachable"), set())
        assert got is not None and got.outcome == "error"
        assert got.detail == "cluster unreachable"


def test_table_counts_and_escapes_pipes() -> None:
    a = outcome_of(_report("call", "passed"), {"smoke"})
    b = outcome_of(_report("call", "failed", "E   a | b"), {"benchmark"})
    assert a is not None and b is not None
    md, data = to_markdown([a, b])
    assert md.startswith("1 failed, 1 passed.")
    assert "| a / b |" in md
    assert data["counts"] == {"passed": 1, "failed": 1}
