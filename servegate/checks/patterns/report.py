"""The per-pattern section of the session index, rewritten as each pattern's test ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servegate.checks.patterns.figures import PATTERN_COLUMNS, markdown_table
from servegate.report.run_index import RunResults

SECTION = "pattern-benchmarks"
TITLE = "Serving patterns: latency, SLO, cost and GPU utilisation"
NOTE = (
    "Cost = GPUs held x the price table's hourly price / measured output tokens per second "
    "(loadprofiles/prices/). GPU utilisation is DCGM_FI_DEV_GPU_UTIL averaged over the "
    "measured window as Prometheus scraped it; on the simulator it is batch occupancy "
    "(100 x running sequences / max_num_seqs), not SM activity."
)


@dataclass
class PatternTable:
    """Rows of the per-pattern section of the session index, rewritten as each test ends."""

    results: RunResults
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, pattern: str, row: dict[str, str], data: dict[str, Any]) -> None:
        self.rows[pattern] = row
        self.data[pattern] = data
        md = NOTE + "\n\n" + markdown_table(PATTERN_COLUMNS, self.rows.values())
        self.results.section(SECTION, TITLE, md, data={"patterns": self.data})
