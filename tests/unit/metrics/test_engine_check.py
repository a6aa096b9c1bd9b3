"""The per-request comparison of servegate's times with the engine's own, on hand-made records."""

from __future__ import annotations

from servegate.metrics.engine_check import agreement, markdown
from servegate.metrics.record import ErrorKind, RequestRecord

MS = 1_000_000


def _rec(
    rid: str, ttft_ms: float, e2e_ms: float, timings: dict[str, float] | None, **kw: object
) -> RequestRecord:
    r = RequestRecord(
        request_id=rid,
        api="chat",
        stream=True,
        sent_ns=1000 * MS,
        end_ns=int((1000 + e2e_ms) * MS),
        chunks=[(int(ttft_ms * MS), 1)],
        prompt_tokens=10,
        completion_tokens=4,
        engine_timings=timings,
    )
    for k, v in kw.items():
        setattr(r, k, v)
    return r


T = {"prompt_n": 8.0, "cache_n": 2.0, "predicted_n": 4.0, "prompt_ms": 30.0, "predicted_ms": 50.0}


def test_differences_are_computed_per_request() -> None:
    recs = [_rec("a", 32.0, 83.0, T), _rec("b", 40.0, 100.0, T)]
    a = agreement(recs)
    assert a is not None and a.requests == 2
    # a: ttft 32-30=2, gen (83-32)-50=1, e2e 83-80=3; b: 10, 10, 20
    assert a.ttft_minus_prompt_ms.min == 2.0 and a.ttft_minus_prompt_ms.max == 10.0
    assert a.ttft_minus_prompt_ms.p50 == 6.0
    assert (a.gen_minus_predicted_ms.min, a.gen_minus_predicted_ms.max) == (1.0, 10.0)
    assert (a.e2e_minus_engine_ms.min, a.e2e_minus_engine_ms.max) == (3.0, 20.0)
    assert a.violations == [] and a.token_mismatches == []
    text = markdown(a)
    assert "| TTFT - prompt_ms | 6.00 |" in text and "2 requests" in text


def test_a_client_time_below_the_engine_time_is_a_violation() -> None:
    a = agreement([_rec("early", 20.0, 90.0, T)])
    assert a is not None and len(a.violations) == 1 and a.violations[0].startswith("early:")


def test_usage_that_disagrees_with_the_engine_counts_is_reported() -> None:
    a = agreement([_rec("m", 32.0, 83.0, T, completion_tokens=5)])
    assert (
        a is not None
        and a.token_mismatches
        and "usage 10/5 vs engine 10/4" in (a.token_mismatches[0])
    )


def test_records_without_timings_or_failed_are_left_out() -> None:
    failed = _rec("f", 32.0, 83.0, T, error=ErrorKind.TIMEOUT)
    assert agreement([_rec("n", 32.0, 83.0, None), failed]) is None
