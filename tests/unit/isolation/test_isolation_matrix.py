"""Truth tables: building, comparing, and the side-by-side rendering a failing check shows."""

from __future__ import annotations

import pytest

from servegate.checks.isolation.matrix import (
    Mismatch,
    TruthTable,
    compare,
    diff_table,
    side_by_side,
    verdict,
)

ROWS = ["a/x", "a/y", "b/z"]
COLS = ["a/x:80", "a/y:80", "dns"]


def _self(r: str, c: str) -> bool:
    return c.startswith(r + ":")


def _table(
    blocked: set[tuple[str, str]], unknown: frozenset[tuple[str, str]] = frozenset()
) -> TruthTable:
    return TruthTable.build(
        ROWS, COLS, lambda r, c: None if (r, c) in unknown else (r, c) not in blocked, skip=_self
    )


def test_build_skips_self_cells_and_keeps_order() -> None:
    t = _table(set())
    assert t.judged()[0] == ("a/x", "a/y:80")
    assert ("a/x", "a/x:80") not in t.cells and ("a/y", "a/y:80") not in t.cells
    assert len(t.judged()) == len(ROWS) * len(COLS) - 2


def test_equal_tables_have_no_mismatch_and_no_verdict() -> None:
    assert compare(_table({("b/z", "dns")}), _table({("b/z", "dns")})) == []
    assert verdict(_table(set()), _table(set()), "check") == []


def test_mismatches_are_listed_in_table_order_with_sentences() -> None:
    want = _table({("a/y", "a/x:80")})
    got = _table({("b/z", "dns")})
    found = compare(want, got)
    assert found == [
        Mismatch("a/y", "a/x:80", expected=False, observed=True),
        Mismatch("b/z", "dns", expected=True, observed=False),
    ]
    assert found[0].sentence() == "a/y -> a/x:80: expected blocked, observed reachable"


def test_a_failed_probe_never_counts_as_agreement() -> None:
    got = _table(set(), unknown=frozenset({("a/x", "dns")}))
    (m,) = compare(_table(set()), got)
    assert (m.row, m.col, m.observed) == ("a/x", "dns", None)
    assert "probe failed" in m.sentence()


def test_diff_table_marks_only_the_differing_cells() -> None:
    d = diff_table(_table(set()), _table({("a/y", "dns")}))
    assert d.get("a/y", "dns") is False
    assert all(v for k, v in d.cells.items() if k != ("a/y", "dns"))
    assert ("a/x", "a/x:80") not in d.cells  # skipped cells stay skipped


def test_side_by_side_shows_three_tables_on_the_same_lines() -> None:
    text = side_by_side(_table(set()), _table({("b/z", "a/x:80")}))
    lines = text.splitlines()
    assert lines[0].split() == ["expected", "observed", "agree?"]
    z_line = next(ln for ln in lines if ln.startswith("b/z"))
    assert z_line.split() == ["b/z", ".", ".", ".", "b/z", "X", ".", ".", "b/z", "X", ".", "."]
    x_line = next(ln for ln in lines if ln.startswith("a/x"))
    assert x_line.split()[:4] == ["a/x", "-", ".", "."]
    assert "1 = a/x:80" in text and "3 = dns" in text


def test_verdict_leads_with_a_count_then_sentences_then_tables() -> None:
    out = verdict(_table(set()), _table({("a/x", "dns"), ("b/z", "dns")}), "policy P")
    assert out[0] == "policy P: 2 of 7 probes differ from the policy"
    assert out[1:3] == [
        "a/x -> dns: expected reachable, observed blocked",
        "b/z -> dns: expected reachable, observed blocked",
    ]
    assert "agree?" in out[-1]


def test_select_restricts_columns_and_cells() -> None:
    t = _table({("a/x", "dns")}).select(["dns"])
    assert t.cols == ["dns"] and t.rows == ROWS
    assert t.cells == {("a/x", "dns"): False, ("a/y", "dns"): True, ("b/z", "dns"): True}


def test_markdown_has_a_row_per_client_and_marks() -> None:
    md = _table({("a/x", "dns")}, unknown=frozenset({("b/z", "dns")})).markdown().splitlines()
    assert md[0] == "| from \\ to | a/x:80 | a/y:80 | dns |"
    assert md[2] == "| a/x | - | . | X |"
    assert md[4] == "| b/z | . | . | ? |"


def test_tables_of_different_shape_cannot_be_compared() -> None:
    with pytest.raises(ValueError, match="different rows or columns"):
        compare(_table(set()), TruthTable(ROWS, COLS[:2]))
    with pytest.raises(KeyError, match="no cell"):
        _table(set()).set("nobody", "dns", True)
