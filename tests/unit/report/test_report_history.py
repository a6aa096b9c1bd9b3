"""servegate history: change points of headline figures over a series of results."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner
from report_runs import MakeRun, synthetic_records

from servegate.cli import cli
from servegate.report import write_report
from servegate.report.history import change_points

# +-1% alternating noise around a level: the noise level estimate is well below a 20% step
NOISE = [1.0, -1.0, 0.5, -0.5, 1.0, -1.0, 0.5, -0.5, 1.0, -1.0, 0.5, -0.5]


def test_a_20_percent_step_is_found_where_it_starts() -> None:
    xs = [100 + e for e in NOISE[:6]] + [120 + e for e in NOISE[6:]]
    assert change_points(xs) == [6]


def test_noise_alone_and_short_series_have_no_change_point() -> None:
    assert change_points([100 + e for e in NOISE]) == []
    assert change_points([100.0, 130.0, 100.0]) == []  # fewer than two segments of two


def test_two_steps_are_both_found() -> None:
    xs = [100 + e for e in NOISE[:4]] + [150 + e for e in NOISE[4:8]] + [100 + e for e in NOISE[8:]]
    assert change_points(xs) == [4, 8]


def test_history_over_nightly_dirs(make_run: MakeRun, tmp_path: Path) -> None:
    nights = []
    for i in range(8):
        night = tmp_path / f"night{i}"
        # a session directory holding one run; from night 4 on every latency is 1.3x
        run = make_run(synthetic_records(100, slow=1.3 if i >= 4 else 1.0), name=f"night{i}/run")
        write_report(run)
        nights.append(night)
    out = tmp_path / "h.json"
    html = tmp_path / "h.html"
    res = CliRunner().invoke(
        cli, ["history", *map(str, nights), "--json", str(out), "--html", str(html)]
    )
    assert res.exit_code == 0, res.output
    series = {s["figure"]: s for s in orjson.loads(out.read_bytes())}
    ttft = series["ttft.p50"]
    assert [c["at"] for c in ttft["changes"]] == ["night4"]
    assert ttft["changes"][0]["after"] / ttft["changes"][0]["before"] > 1.25
    assert series["error_rate"]["changes"] == []  # every night fails 1 request in 10
    assert "Plotly.newPlot" in html.read_text()


def test_history_of_a_directory_without_results_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["history", str(tmp_path)])
    assert res.exit_code == 1 and "no servegate results" in res.output
