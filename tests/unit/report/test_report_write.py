from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import plotly.graph_objects as go
import pytest
from report_runs import MakeRun, S, synthetic_records
from rich.console import Console

from servegate.config.slo import slo_preset
from servegate.errors import UserError
from servegate.metrics import sketch as sk
from servegate.metrics.io import read_records
from servegate.metrics.run_meta import Stage
from servegate.metrics.summary import Summary
from servegate.report import load_summary, print_summary, write_report
from servegate.report.html import render_sweep_html
from servegate.report.writer import SKETCHES_FILE


def _figures(html: str) -> list[dict[str, object]]:
    m = re.search(r"const F=(.*?);F\.forEach", html, re.S)
    assert m is not None
    figs: list[dict[str, object]] = json.loads(m.group(1).replace("<\\/", "</"))
    return figs


def test_full_report(make_run: MakeRun) -> None:
    stages = [
        Stage(name=f"s{i}", start_ns=i * 5 * S, end_ns=(i + 1) * 5 * S, rate_rps=i + 1.0)
        for i in range(2)
    ]
    d = make_run(synthetic_records(200), stages=stages)
    s = write_report(d, slo_preset("mlperf-llama3.1-8b-server"))
    # summary.json round-trips through the strict model
    assert load_summary(d) == s
    assert s.schema_version == 1
    assert s.counts.errors == {"http_5xx": 20}
    assert s.slo is not None and s.slo.passed
    md = (d / "report.md").read_text()
    assert "SLO mlperf-llama3.1-8b-server: PASS" in md
    assert "guidellm" in md and "TPOT" in md
    assert "| http_5xx | 20 |" in md
    html = (d / "report.html").read_text()
    # self-contained: no external scripts, styles or images
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    assert "Plotly.newPlot" in html
    figs = _figures(html)
    for f in figs:
        go.Figure(f)  # raises on any property plotly does not know
    assert len(figs) == 4 + 1 + 2 + 1  # CDFs, percentile bars, two time plots, sweep
    # sketches.json holds a mergeable sketch per metric with the exact sample count
    sketches = orjson.loads((d / SKETCHES_FILE).read_bytes())
    assert sk.from_json(sketches["ttft"]).count == s.latency.ttft.count


def test_empty_run_says_so(make_run: MakeRun) -> None:
    d = make_run([])
    s = write_report(d)
    assert s.counts.total == 0
    assert "No successful requests" in (d / "report.md").read_text()
    assert "No successful requests" in (d / "report.html").read_text()
    for f in _figures((d / "report.html").read_text()):
        go.Figure(f)


def test_errors_only_run(make_run: MakeRun) -> None:
    recs = [r for r in synthetic_records(100) if not r.ok]
    d = make_run(recs)
    s = write_report(d, slo_preset("mlperf-llama2-70b-server"))
    assert s.counts.failed == len(recs) and s.counts.succeeded == 0
    assert s.slo is not None and not s.slo.passed
    assert "FAIL" in (d / "report.md").read_text()


def test_truncated_records_file_keeps_complete_members(make_run: MakeRun) -> None:
    d = make_run(synthetic_records(100))
    f = d / "records" / "w0.jsonl.gz"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) - 40])  # tear the last gzip member
    kept = len(list(read_records(d)))
    assert 0 < kept < 100 and kept % 8 == 0  # whole flushes of 8 records survive
    s = write_report(d)
    assert s.counts.total == kept


def test_missing_run_json_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        write_report(tmp_path)
    assert "run.json: no such file" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(UserError, match="not a directory"):
        write_report(tmp_path / "nope")


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"run_id": "x"}', "profile_name: Field required"),
        (
            b'{"run_id": "x", "profile_name": "p", "endpoint": "e", "start_ns": "soon",'
            b' "end_ns": 1}',
            "start_ns",
        ),
        (
            b'{"run_id": "x", "profile_name": "p", "endpoint": "e", "start_ns": 0, "end_ns": 1,'
            b' "windw": null}',
            "windw: unknown field",
        ),
    ],
)
def test_bad_run_json_is_one_line(tmp_path: Path, content: bytes, expect: str) -> None:
    (tmp_path / "run.json").write_bytes(content)
    with pytest.raises(UserError) as exc:
        write_report(tmp_path)
    msg = str(exc.value)
    assert expect in msg and "run.json" in msg and "\n" not in msg


def test_bad_summary_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "summary.json"
    p.write_text('{"schema_version": 2}')
    with pytest.raises(UserError) as exc:
        load_summary(tmp_path)
    assert "schema_version" in str(exc.value) and "\n" not in str(exc.value)


def test_print_summary_shows_figures_and_flags(make_run: MakeRun) -> None:
    s = write_report(make_run(synthetic_records(50), generator_ceiling_rps=1.0))
    console = Console(record=True, width=140)
    print_summary(s, console)
    text = console.export_text()
    assert "TTFT" in text and "p99.9" in text
    assert "past_generator_ceiling" in text


def test_sweep_page_has_one_point_per_run(make_run: MakeRun) -> None:
    summaries: list[Summary] = [
        write_report(make_run(synthetic_records(n), name=f"r{n}")) for n in (20, 40, 80)
    ]
    figs = _figures(render_sweep_html(summaries))
    assert len(figs) == 1
    data = figs[0]["data"]
    assert isinstance(data, list)
    assert data[0]["x"] == [s.throughput.output_tokens_per_s for s in summaries]
