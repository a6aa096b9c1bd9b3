"""Truth tables of who reaches whom, expected against observed, in the manner of upstream
Kubernetes' NetworkPolicy e2e tests (``TruthTable``): one row per client pod, one column per
target (a pod and port, or DNS), so a wrong policy shows as a picture rather than a count.

Pure: no cluster here. A cell is True (reachable), False (blocked) or None (the probe itself
could not run, e.g. exec failed); None never counts as agreement, so a broken probe fails a
check instead of passing it. Cells absent from a table (a pod probing itself) are not judged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Cell = bool | None
MARK = {True: ".", False: "X", None: "?"}
"""Rendering of a cell: '.' reachable, 'X' blocked, '?' probe failed ('-' not probed)."""


@dataclass
class TruthTable:
    """Outcomes keyed by (row, column); rows and columns keep their given order."""

    rows: list[str]
    cols: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        rows: Iterable[str],
        cols: Iterable[str],
        value: Callable[[str, str], Cell],
        skip: Callable[[str, str], bool] = lambda _r, _c: False,
    ) -> TruthTable:
        """A table whose cell (r, c) is ``value(r, c)``, leaving out cells ``skip`` names."""
        table = cls(list(rows), list(cols))
        for r in table.rows:
            for c in table.cols:
                if not skip(r, c):
                    table.cells[(r, c)] = value(r, c)
        return table

    def set(self, row: str, col: str, value: Cell) -> None:
        if row not in self.rows or col not in self.cols:
            raise KeyError(f"no cell {row} -> {col} in this table")
        self.cells[(row, col)] = value

    def get(self, row: str, col: str) -> Cell:
        return self.cells.get((row, col))

    def judged(self) -> list[tuple[str, str]]:
        """Judged cells, row-major in the table's order."""
        return [(r, c) for r in self.rows for c in self.cols if (r, c) in self.cells]

    def select(self, cols: Iterable[str]) -> TruthTable:
        """The same rows restricted to ``cols`` (in the table's order)."""
        wanted = set(cols)
        keep = [c for c in self.cols if c in wanted]
        cells = {k: v for k, v in self.cells.items() if k[1] in wanted}
        return TruthTable(list(self.rows), keep, cells)

    def text(self, title: str = "") -> list[str]:
        """The table as fixed-width lines (``title`` first when given)."""
        width = max([len(r) for r in self.rows] + [1])
        head = " " * width + " " + " ".join(f"{i:>2}" for i in range(1, len(self.cols) + 1))
        out = [title] if title else []
        out.append(head)
        for r in self.rows:
            marks = [MARK[self.cells[(r, c)]] if (r, c) in self.cells else "-" for c in self.cols]
            out.append(f"{r:<{width}} " + " ".join(f"{m:>2}" for m in marks))
        return out

    def markdown(self) -> str:
        """A Markdown table with the same marks (column headers are the full target names)."""
        lines = ["| from \\ to | " + " | ".join(self.cols) + " |"]
        lines.append("|---" * (len(self.cols) + 1) + "|")
        for r in self.rows:
            marks = [MARK[self.cells[(r, c)]] if (r, c) in self.cells else "-" for c in self.cols]
            lines.append(f"| {r} | " + " | ".join(marks) + " |")
        return "\n".join(lines)


@dataclass(frozen=True)
class Mismatch:
    row: str
    col: str
    expected: Cell
    observed: Cell

    def sentence(self) -> str:
        def word(v: Cell) -> str:
            return {True: "reachable", False: "blocked", None: "probe failed"}[v]

        want, got = word(self.expected), word(self.observed)
        return f"{self.row} -> {self.col}: expected {want}, observed {got}"


def compare(expected: TruthTable, observed: TruthTable) -> list[Mismatch]:
    """Cells where the observation differs from the expectation (None always differs)."""
    if expected.rows != observed.rows or expected.cols != observed.cols:
        raise ValueError("expected and observed tables have different rows or columns")
    out = []
    for key in expected.judged():
        want, got = expected.cells[key], observed.cells.get(key)
        if want is None or got is None or want != got:
            out.append(Mismatch(key[0], key[1], want, got))
    return out


def diff_table(expected: TruthTable, observed: TruthTable) -> TruthTable:
    """A table of agreement: True where the cells agree, False where they differ."""
    bad = {(m.row, m.col) for m in compare(expected, observed)}
    return TruthTable.build(
        expected.rows,
        expected.cols,
        lambda r, c: (r, c) not in bad,
        skip=lambda r, c: (r, c) not in expected.cells,
    )


def side_by_side(expected: TruthTable, observed: TruthTable, gap: int = 4) -> str:
    """Expected, observed and their agreement next to each other, with a column legend.

    In the third table '.' means the cells agree and 'X' that they differ."""
    blocks = [
        expected.text("expected"),
        observed.text("observed"),
        diff_table(expected, observed).text("agree?"),
    ]
    widths = [max(len(line) for line in b) for b in blocks]
    lines = []
    for i in range(max(len(b) for b in blocks)):
        parts = [(b[i] if i < len(b) else "").ljust(w) for b, w in zip(blocks, widths, strict=True)]
        lines.append((" " * gap).join(parts).rstrip())
    legend = [f"{i:>2} = {c}" for i, c in enumerate(expected.cols, start=1)]
    marks = "'.' reachable, 'X' blocked, '?' probe failed, '-' not probed"
    return "\n".join([*lines, "", "columns: " + "; ".join(legend), "marks: " + marks])


def verdict(expected: TruthTable, observed: TruthTable, what: str) -> list[str]:
    """Failures of one check (empty: pass): one line per mismatch, then the three tables."""
    mismatches = compare(expected, observed)
    if not mismatches:
        return []
    head = f"{what}: {len(mismatches)} of {len(expected.judged())} probes differ from the policy"
    return [head, *(m.sentence() for m in mismatches), "", side_by_side(expected, observed)]
