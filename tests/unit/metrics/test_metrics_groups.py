"""Per-model and per-turn figures, and a model's own SLO, computed by hand on small records."""

from __future__ import annotations

from collections.abc import Callable

from servegate.metrics.analyze import analyze
from servegate.metrics.record import RequestRecord
from servegate.metrics.run_meta import RunMeta, Span

S = 1_000_000_000
Rec = Callable[..., RequestRecord]


def _meta(**profile: object) -> RunMeta:
    return RunMeta(
        run_id="t",
        profile_name="p",
        endpoint="http://x",
        start_ns=0,
        end_ns=4 * S,
        window=Span(start_ns=0, end_ns=4 * S),
        profile=dict(profile),
        workload={"prompts": "synthetic words"},
    )


def test_per_model_figures_and_own_slo(rec: Rec) -> None:
    recs = [
        # model a: TTFT 100 ms twice; model b: TTFT 100 ms and 900 ms
        rec(sent_ms=0, end_ms=300, tags={"model": "a"}, request_id="1"),
        rec(sent_ms=1000, end_ms=1300, tags={"model": "a"}, request_id="2"),
        rec(sent_ms=0, end_ms=300, tags={"model": "b"}, request_id="3"),
        rec(
            sent_ms=500,
            end_ms=1500,
            chunk_ms=((900.0, 1), (950.0, 1)),
            tags={"model": "b"},
            request_id="4",
        ),
    ]
    slo = {"name": "b-slo", "limits": [{"metric": "ttft", "stat": "max", "max_ms": 500}]}
    meta = _meta(models=[{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "slo": slo}])
    s = analyze(recs, meta).summary
    groups = {(g.by, g.key): g for g in s.groups}
    assert set(groups) == {("model", "a"), ("model", "b")}
    a, b = groups["model", "a"], groups["model", "b"]
    assert a.counts.succeeded == 2 and a.throughput.requests_per_s == 0.5  # 2 in a 4 s window
    assert a.latency.ttft.max == 100.0 and a.slo is None
    assert b.latency.ttft.max == 900.0
    assert b.slo is not None and not b.slo.passed and b.slo.verdicts[0].observed == 900.0
    assert s.run.workload == {"prompts": "synthetic words"}


def test_turns_sort_numerically(rec: Rec) -> None:
    recs = [
        rec(sent_ms=i, end_ms=300 + i, tags={"turn": str(t)}, request_id=f"r{i}")
        for i, t in enumerate([10, 2, 1, 2])
    ]
    s = analyze(recs, _meta()).summary
    assert [(g.key, g.counts.succeeded) for g in s.groups] == [("1", 1), ("2", 2), ("10", 1)]
    assert all(g.by == "turn" for g in s.groups)


def test_untagged_runs_have_no_groups(rec: Rec) -> None:
    assert analyze([rec()], _meta()).summary.groups == []
