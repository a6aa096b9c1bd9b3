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


def test_the_index_exists_from_the_start_and_says_how_the_run_ended(tmp_path: Path) -> None:
    """A run killed before its end keeps an index that says it did not finish (the interrupt
    soak's SIGKILL trials); Ctrl-C and SIGTERM end it ``interrupted``."""
    res = RunResults.create(tmp_path, "r4")
    index = json.loads((res.root / "index.json").read_text())
    assert index["status"] == "running" and index["pid"] > 0 and index["runs"] == []
    assert "**Not finished**" in (res.root / "index.md").read_text()
    res.finish()
    assert json.loads((res.root / "index.json").read_text())["status"] == "finished"
    assert "Not finished" not in (res.root / "index.md").read_text()

    stopped = RunResults.create(tmp_path, "r5")
    stopped.finish(interrupted=True)
    stopped.finish()  # the fixture's own finish comes after: it stays interrupted
    assert json.loads((stopped.root / "index.json").read_text())["status"] == "interrupted"
    assert "**Interrupted**" in (stopped.root / "index.md").read_text()
