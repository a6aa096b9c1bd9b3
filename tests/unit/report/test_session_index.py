"""The session index: sections land in index.md, index.json and index.html."""

from __future__ import annotations

import json
from pathlib import Path

from servegate.report.run_index import RunResults


def test_sections_are_written_replaced_and_rendered(tmp_path: Path) -> None:
    res = RunResults.create(tmp_path, "r1")
    fig = {"data": [{"x": [0, 1], "y": [1, 3], "type": "scatter"}], "layout": {}}
    res.section("iso", "Isolation", "| a | b |\n|---|---|\n| 1 | 0 |", {"ok": 1}, [fig])
    res.section("iso", "Isolation", "| a | b |\n|---|---|\n| 1 | 1 |", {"ok": 2}, [fig])
    index = json.loads((res.root / "index.json").read_text())
    assert [s["data"] for s in index["sections"]] == [{"ok": 2}]
    md = (res.root / "index.md").read_text()
    assert "## Isolation" in md and "| 1 | 1 |" in md and "| 1 | 0 |" not in md
    page = (res.root / "index.html").read_text()
    assert "<table>" in page and "<td>1</td>" in page
    assert page.count('class="plot"') == 1 and "Plotly.newPlot" in page


def test_index_without_figures_has_no_plotly(tmp_path: Path) -> None:
    res = RunResults.create(tmp_path, "r2")
    res.section("cold", "Cold start", "median **12 s**")
    page = (res.root / "index.html").read_text()
    assert "<strong>12 s</strong>" in page and "Plotly" not in page


def test_section_headings_sit_below_the_section_title(tmp_path: Path) -> None:
    res = RunResults.create(tmp_path, "r3")
    res.section("u", "Utilisation", "# Study\n\n## Verdict\n```\n# not a heading\n```")
    md = (res.root / "index.md").read_text()
    assert "## Utilisation\n\n### Study\n\n#### Verdict" in md
    assert "\n# not a heading" in md
