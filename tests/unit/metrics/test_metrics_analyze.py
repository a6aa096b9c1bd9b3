from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from servegate.config.slo import SLOLimit, SLOSpec
from servegate.metrics.analyze import QUEUE_P99_FLAG_MS, analyze
from servegate.metrics.record import ErrorKind, RequestRecord
from servegate.metrics.run_meta import RunMeta, Span, Stage

MS = 1_000_000
S = 1_000_000_000
Rec = Callable[..., RequestRecord]


def meta(**kw: Any) -> RunMeta:
    fields: dict[str, Any] = {
        "run_id": "t",
        "profile_name": "p",
        "endpoint": "http://127.0.0.1:1/v1",
        "start_ns": 0,
        "end_ns": 4 * S,
        "window": Span(start_ns=1 * S, end_ns=3 * S),
    }
    fields.update(kw)
    return RunMeta(**fields)


def fail(sent_ms: float, end_ms: float, kind: ErrorKind) -> RequestRecord:
    return RequestRecord(
        request_id=f"e{sent_ms}",
        api="chat",
        stream=True,
        sent_ns=int(sent_ms * MS),
        end_ns=int(end_ms * MS),
        error=kind,
    )


def test_window_keeps_requests_completed_inside_it(rec: Rec) -> None:
    records = [
        rec(sent_ms=500, end_ms=900),  # completed in warm-up: out
        rec(sent_ms=900, end_ms=1200),  # sent before, completed inside: in
        rec(sent_ms=2000, end_ms=2300, chunk_ms=((100.0, 2), (200.0, 4))),  # in
        rec(sent_ms=2900, end_ms=3000),  # ends exactly at the window end: out (half-open)
        fail(1500, 1600, ErrorKind.HTTP_5XX),
        fail(1700, 1800, ErrorKind.TIMEOUT),
        fail(1800, 2800, ErrorKind.TIMEOUT),
    ]
    s = analyze(records, meta()).summary
    assert s.counts.total == 5
    assert (s.counts.succeeded, s.counts.failed) == (2, 3)
    assert s.counts.errors == {"http_5xx": 1, "timeout": 2}
    assert s.counts.error_rate == pytest.approx(3 / 5)
    # 2 successes with 4 + 6 output tokens over a 2 s window
    assert s.throughput.requests_per_s == pytest.approx(1.0)
    assert s.throughput.output_tokens_per_s == pytest.approx(5.0)
    assert s.throughput.input_tokens_per_s == pytest.approx(10.0)
    # sent inside the window: the 2000 ms, 2900 ms successes and the three failures
    assert s.throughput.sent_per_s == pytest.approx(5 / 2)
    # failures never enter latency statistics: the 1000 ms timeout does not show in E2E
    assert s.latency.e2e.count == 2
    assert s.latency.e2e.max == pytest.approx(300.0)
    assert s.latency.ttft.p50 == pytest.approx(100.0)
    assert s.throughput.goodput_per_s is None  # no SLO given
    assert s.tokens.output_total == 10


def test_goodput_counts_requests_meeting_every_threshold(rec: Rec) -> None:
    records = [
        rec(sent_ms=1000, end_ms=1300),  # TTFT 100, TPOT 66.7
        rec(sent_ms=1100, end_ms=1400, chunk_ms=((250.0, 1), (260.0, 1))),  # TTFT 250: too slow
        rec(sent_ms=1200, end_ms=2200, chunk_ms=((50.0, 1), (60.0, 1))),  # TPOT 950: too slow
    ]
    slo = SLOSpec(
        name="x",
        limits=[
            SLOLimit(metric="ttft", stat="p50", max_ms=150),
            SLOLimit(metric="ttft", stat="p99", max_ms=200),  # loosest TTFT limit applies
            SLOLimit(metric="tpot", stat="p99", max_ms=100),
        ],
    )
    s = analyze(records, meta(), slo).summary
    assert s.throughput.goodput_per_s == pytest.approx(1 / 2)
    assert s.slo is not None
    verdicts = {v.key: v for v in s.slo.verdicts}
    assert verdicts["ttft.p50"].observed == pytest.approx(100.0)
    assert verdicts["ttft.p50"].passed
    assert not verdicts["tpot.p99"].passed
    assert not s.slo.passed


def test_empty_run_reports_no_successes() -> None:
    s = analyze([], meta(), SLOSpec(name="e", max_error_rate=0.1)).summary
    assert s.counts.total == 0 and s.counts.error_rate is None
    assert s.latency.ttft.count == 0 and s.latency.ttft.p99 is None
    assert "no_successes" in s.flag_codes()
    assert s.slo is not None and not s.slo.passed  # nothing observed cannot pass
    assert s.timeseries == []


def test_errors_only_run() -> None:
    records = [fail(1000 + i, 1100 + i, ErrorKind.CONNECT) for i in range(4)]
    s = analyze(records, meta()).summary
    assert s.counts.errors == {"connect": 4}
    assert s.counts.error_rate == 1.0
    assert s.throughput.output_tokens_per_s == 0.0
    assert "no_successes" in s.flag_codes()
    assert sum(p.errors for p in s.timeseries) == 4


def test_flags_token_mismatch_usage_missing_and_ceiling(rec: Rec) -> None:
    records = [
        rec(sent_ms=1000, end_ms=1300, completion_tokens=9),
        rec(sent_ms=1100, end_ms=1400, completion_tokens=None),
        rec(sent_ms=1200, end_ms=1500),
    ]
    s = analyze(records, meta(generator_ceiling_rps=1.0)).summary
    codes = s.flag_codes()
    assert {"token_count_mismatch", "usage_missing", "past_generator_ceiling"} <= codes
    assert s.tokens.mismatched == 1 and s.tokens.usage_missing == 1
    assert "few_samples" in codes
    below = analyze(records, meta(generator_ceiling_rps=100.0)).summary
    assert "past_generator_ceiling" not in below.flag_codes()


def test_client_queueing_flag(rec: Rec) -> None:
    late = int((QUEUE_P99_FLAG_MS + 5) * MS)
    on_time = [rec(sent_ms=1000, end_ms=1300, scheduled_ns=1000 * MS)]
    late_recs = [rec(sent_ms=1000, end_ms=1300, scheduled_ns=1000 * MS - late)]
    assert "client_queueing" not in analyze(on_time, meta()).summary.flag_codes()
    s = analyze(late_recs, meta()).summary
    assert "client_queueing" in s.flag_codes()
    assert s.latency.e2e_with_queue.max == pytest.approx(300.0 + QUEUE_P99_FLAG_MS + 5)


def test_stages_are_summarized_separately(rec: Rec) -> None:
    stages = [
        Stage(name="low", start_ns=1 * S, end_ns=2 * S, rate_rps=1.0),
        Stage(name="high", start_ns=2 * S, end_ns=3 * S, rate_rps=2.0),
    ]
    records = [
        rec(sent_ms=1000, end_ms=1300),
        rec(sent_ms=2000, end_ms=2300),
        rec(sent_ms=2100, end_ms=2400),
    ]
    s = analyze(records, meta(stages=stages)).summary
    assert [st.counts.succeeded for st in s.stages] == [1, 2]
    assert [st.throughput.output_tokens_per_s for st in s.stages] == pytest.approx([4.0, 8.0])


def test_timing_error_summary(rec: Rec) -> None:
    r = rec(sent_ms=1000, end_ms=1300, server_recv_ns=1001 * MS, server_first_ns=1098 * MS)
    s = analyze([r, rec(sent_ms=1100, end_ms=1400)], meta()).summary
    assert s.timing_error is not None
    assert s.timing_error.requests == 1
    assert s.timing_error.ttft_ms.p50 == pytest.approx(3.0)
    assert analyze([rec(sent_ms=1000, end_ms=1300)], meta()).summary.timing_error is None
