from __future__ import annotations

from collections.abc import Callable

import pytest

from servegate.metrics.derive import derive, itl_samples, timing_errors
from servegate.metrics.record import RequestRecord

MS = 1_000_000
Rec = Callable[..., RequestRecord]


def test_per_request_figures_by_hand(rec: Rec) -> None:
    # Chunks at 100 ms (1 token), 150 ms (2 tokens), 250 ms (1 token); last byte at 300 ms.
    d = derive(rec(scheduled_ns=-5 * MS))
    assert d.ttft == pytest.approx(100.0)
    assert d.e2e == pytest.approx(300.0)
    assert d.output_tokens == 4
    assert d.tpot == pytest.approx((300 - 100) / 3)
    assert d.ntpot == pytest.approx(75.0)
    assert d.queue == pytest.approx(5.0)
    assert d.e2e_with_queue == pytest.approx(305.0)
    # gap 50 ms over 2 tokens -> two samples of 25 ms; then one of 100 ms
    assert d.itl == pytest.approx([25.0, 25.0, 100.0])
    assert not d.usage_missing and not d.token_mismatch


def test_itl_samples_sum_to_first_to_last_chunk_span() -> None:
    chunks = [(0, 3), (30 * MS, 3), (31 * MS, 1), (80 * MS, 4)]
    xs = itl_samples(chunks)
    assert len(xs) == 3 + 1 + 4  # the first chunk gives none
    assert sum(xs) == pytest.approx(80.0)


def test_closed_loop_has_no_queueing(rec: Rec) -> None:
    d = derive(rec())
    assert d.queue is None
    assert d.e2e_with_queue == d.e2e


def test_single_token_has_no_tpot(rec: Rec) -> None:
    d = derive(rec(chunk_ms=((100.0, 1),), end_ms=120.0))
    assert d.tpot is None
    assert d.ntpot == pytest.approx(120.0)
    assert d.itl == []


def test_non_streamed_response_has_no_streaming_figures(rec: Rec) -> None:
    d = derive(rec(stream=False, chunk_ms=((290.0, 4),)))
    assert d.ttft is None and d.tpot is None and d.itl == []
    assert d.e2e == pytest.approx(300.0)


def test_usage_missing_falls_back_to_client_count(rec: Rec) -> None:
    d = derive(rec(completion_tokens=None, client_tokens=7))
    assert d.output_tokens == 7 and d.usage_missing and not d.token_mismatch


def test_client_server_token_mismatch(rec: Rec) -> None:
    d = derive(rec(completion_tokens=5))
    assert d.output_tokens == 5  # the server's usage wins
    assert d.token_mismatch


def test_timing_errors_against_server_timestamps(rec: Rec) -> None:
    # Server saw the request 1 ms after the client sent it; the client read the first two
    # chunks 2 ms after the server emitted them and the last one 5 ms after.
    r = rec(
        server_recv_ns=1 * MS,
        server_first_ns=98 * MS,
        server_chunk_ns=[98 * MS, 148 * MS, 245 * MS],
    )
    ttft_err, gaps = timing_errors(r)
    assert ttft_err == pytest.approx(100 - (98 - 1))
    assert gaps == pytest.approx([0.0, 3.0])


def test_timing_errors_skip_misaligned_server_chunks(rec: Rec) -> None:
    ttft_err, gaps = timing_errors(rec(server_chunk_ns=[1, 2]))
    assert ttft_err is None and gaps == []
