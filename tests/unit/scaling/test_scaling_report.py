"""The autoscaling plot and table: shared time axis, marks, thinning of long series."""

from __future__ import annotations

import itertools
import json

from servegate.metrics.scaling import ScalingSample
from servegate.report.scaling import scaling_figure, scaling_markdown


def samples(n: int, period: int = 12) -> list[ScalingSample]:
    return [
        ScalingSample(
            t=2.0 * i,
            wall=0.0,
            desired=1 + (i + 2) // period,
            ready=1 + i // period,
            queue_depth=float(i % 7),
            p50_ms=100.0 + i,
            p99_ms=None if i == 0 else 300.0 + i,
            metrics={"vllm_num_requests_waiting": i / 4},
        )
        for i in range(n)
    ]


def test_figure_shares_one_time_axis_and_has_each_series() -> None:
    s = samples(5)
    fig = scaling_figure(s, "t", marks={"load stop": 4.0})
    names = [tr["name"] for tr in fig["data"]]
    assert {"ready replicas", "desired replicas", "queue depth (sum waiting)"} <= set(names)
    assert "HPA vllm_num_requests_waiting" in names and "e2e p99 ms" in names
    assert {tr["xaxis"] for tr in fig["data"]} == {"x"}
    assert {tr["yaxis"] for tr in fig["data"]} == {"y", "y2", "y3"}
    ready = next(tr for tr in fig["data"] if tr["name"] == "ready replicas")
    assert ready["x"] == [s_.t for s_ in s] and ready["y"] == [s_.ready for s_ in s]
    assert fig["layout"]["shapes"][0]["x0"] == 4.0
    json.dumps(fig)  # goes into index.json as is


def test_markdown_table_headline_and_missing_values() -> None:
    md = scaling_markdown(samples(5), marks={"load start": 2.0})
    lines = md.splitlines()
    assert "5 samples" in lines[0] and "load start at 2s" in lines[0]
    assert lines[2].startswith("| t s | desired | ready | queue | per pod | HPA vllm_num_requests")
    assert len(lines) == 4 + 5
    assert lines[4].split("|")[-2].strip() == "-"  # p99 of the first sample is unknown


def test_markdown_thins_long_series_but_keeps_replica_changes() -> None:
    s = samples(200, period=25)
    md = scaling_markdown(s, max_rows=30)
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| t s")]
    assert len(rows) <= 30
    times = {float(r.split("|")[1]) for r in rows}
    changes = [
        b.t for a, b in itertools.pairwise(s) if (a.ready, a.desired) != (b.ready, b.desired)
    ]
    assert set(changes) <= times
    assert s[0].t in times and s[-1].t in times
    assert len(rows) == 30  # spare rows are filled evenly


def test_markdown_thins_replica_changes_evenly_when_they_alone_exceed_the_limit() -> None:
    s = [ScalingSample(t=float(i), wall=0.0, ready=i % 2, desired=1) for i in range(100)]
    md = scaling_markdown(s, max_rows=10)
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| t s")]
    assert len(rows) == 10
    assert rows[0].startswith("| 0 |") and rows[-1].startswith("| 99 |")


def test_no_samples() -> None:
    assert scaling_markdown([]) == "No samples were recorded."


def test_per_pod_queue_is_plotted_tabled_and_summarised() -> None:
    s = [
        ScalingSample(t=0.0, wall=0.0, ready=1, queue_by_pod={"a": 4.0}),
        ScalingSample(t=2.0, wall=0.0, ready=2, queue_by_pod={"a": 9.0, "b": 1.0}),
        ScalingSample(t=4.0, wall=0.0, ready=2, queue_by_pod={"a": 5.0, "b": 5.0}),
    ]
    fig = scaling_figure(s, "t")
    b = next(tr for tr in fig["data"] if tr["name"] == "waiting on b")
    assert b["y"] == [None, 1.0, 5.0] and b["yaxis"] == "y2"
    md = scaling_markdown(s)
    assert "share of the queue while several pods served: 70%" in md  # (0.9 + 0.5) / 2
    assert "| 9 / 1 |" in md


def test_requests_per_pod_are_tabled_and_summarised_with_ready_seconds() -> None:
    s = [
        ScalingSample(t=0.0, wall=0.0, ready=1, ready_pods=("a",), served_by_pod={}),
        ScalingSample(t=10.0, wall=0.0, ready=2, ready_pods=("a", "b"), served_by_pod={"a": 6.0}),
        ScalingSample(
            t=20.0, wall=0.0, ready=2, ready_pods=("a", "b"), served_by_pod={"a": 9.0, "b": 3.0}
        ),
    ]
    md = scaling_markdown(s, marks={"load start": 0.0, "load stop": 20.0})
    # a Ready over both spans (20 s), b over 10-20 only (10 s)
    assert "per pod: a: 9 requests, Ready 20s of the load; b: 3 requests, Ready 10s" in md
    lines = md.splitlines()
    assert lines[2].endswith("| p50 ms | p99 ms | served per pod |")
    assert lines[-1].endswith("| 9 / 3 |") and lines[-3].endswith("| - |")
    assert "served per pod" not in scaling_markdown(samples(3))  # no counts: no column
