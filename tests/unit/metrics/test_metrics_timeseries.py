from __future__ import annotations

from collections.abc import Callable

import pytest

from servegate.metrics.record import ErrorKind, RequestRecord
from servegate.metrics.timeseries import timeseries

Rec = Callable[..., RequestRecord]


def test_per_second_buckets_by_hand(rec: Rec) -> None:
    records = [
        # in flight 0.5 s .. 1.5 s; chunks at 0.6 s (1), 0.65 s (2), 0.75 s (1)
        rec(sent_ms=500, end_ms=1500, chunk_ms=((100.0, 1), (150.0, 2), (250.0, 1))),
        # in flight 1.2 s .. 1.4 s; one chunk at 1.3 s with 3 tokens
        rec(sent_ms=1200, end_ms=1400, chunk_ms=((100.0, 3),)),
        RequestRecord(
            request_id="e",
            api="chat",
            stream=True,
            sent_ns=2_100_000_000,
            end_ns=2_200_000_000,
            error=ErrorKind.HTTP_5XX,
        ),
    ]
    pts = timeseries(records, start_ns=0)
    assert [p.t_s for p in pts] == [0, 1, 2]
    assert [p.requests_ok for p in pts] == [0, 2, 0]
    assert [p.errors for p in pts] == [0, 0, 1]
    assert [p.output_tokens for p in pts] == [4, 3, 0]
    assert [p.concurrency for p in pts] == pytest.approx([0.5, 0.5 + 0.2, 0.1])
    assert pts[0].ttft_p50_ms == pytest.approx(100.0)
    assert pts[2].ttft_p50_ms is None


def test_empty() -> None:
    assert timeseries([], start_ns=0) == []
