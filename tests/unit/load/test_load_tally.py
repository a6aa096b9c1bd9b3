"""Worker tallies merge on the master into the same figures as one pooled tally."""

from __future__ import annotations

import orjson

from servegate.config.profile import Criteria
from servegate.load.tally import MasterTally, WorkerTally
from servegate.metrics.record import ErrorKind, RequestRecord

MS = 1_000_000


def _rec(ttft_ms: int, e2e_ms: int, error: ErrorKind | None = None) -> RequestRecord:
    return RequestRecord(
        request_id="r",
        api="chat",
        stream=True,
        sent_ns=0,
        end_ns=e2e_ms * MS,
        chunks=[(ttft_ms * MS, 1), (e2e_ms * MS, 1)],
        completion_tokens=2,
        client_tokens=2,
        error=error,
    )


def test_deltas_merge_like_one_pool() -> None:
    w1, w2, pooled = WorkerTally("a"), WorkerTally("b"), WorkerTally("p")
    for i in range(1, 101):
        r = _rec(i, 2 * i)
        (w1 if i % 2 else w2).add(r, step=0, measured=True)
        pooled.add(r, step=0, measured=True)
    w1.add(_rec(1, 1, ErrorKind.HTTP_5XX), step=0, measured=True)
    pooled.add(_rec(1, 1, ErrorKind.HTTP_5XX), step=0, measured=True)
    m, ref = MasterTally(), MasterTally()
    for msg in (w1.take(3), w2.take(0)):
        m.merge(orjson.loads(orjson.dumps(msg)))  # what travels is JSON-able
    ref.merge(pooled.take(0))
    assert m.snapshot()["done"] == ref.snapshot()["done"] == 101
    assert m.errors == ref.errors
    assert m.steps[0].quantile("ttft", 0.99) == ref.steps[0].quantile("ttft", 0.99)
    assert m.snapshot()["in_flight"] == 3


def test_take_resets_and_unmeasured_requests_skip_the_step() -> None:
    w = WorkerTally("a")
    w.add(_rec(1, 2), step=0, measured=False)
    first = w.take(0)
    assert first["done"] == 1 and first["steps"] == {}
    assert w.take(0)["done"] == 0


def _tally(n_ok: int, n_err: int, ttft_ms: int, dropped: int = 0) -> MasterTally:
    w = WorkerTally("a")
    for _ in range(n_ok):
        w.add(_rec(ttft_ms, ttft_ms + 10), 0, True)
    for _ in range(n_err):
        w.add(_rec(1, 1, ErrorKind.TIMEOUT), 0, True)
    for _ in range(dropped):
        w.drop(0, True)
    m = MasterTally()
    m.merge(w.take(0))
    return m


def test_verdicts() -> None:
    crit = Criteria(ttft_p99_ms=100, max_error_rate=0.05, min_achieved_ratio=0.9)
    assert _tally(100, 0, 50).verdict(0, crit, 10.0, offered_rate=10.0).passed
    slow = _tally(100, 0, 500).verdict(0, crit, 10.0, offered_rate=10.0)
    assert not slow.passed and "ttft" in slow.reason
    errs = _tally(90, 10, 50).verdict(0, crit, 10.0, None)
    assert not errs.passed and "error rate" in errs.reason
    behind = _tally(50, 0, 50).verdict(0, crit, 10.0, offered_rate=10.0)
    assert not behind.passed and "offered" in behind.reason
    realized = _tally(80, 0, 50)
    realized.steps[0].scheduled = 82  # Poisson gave fewer arrivals than rate x time
    assert realized.verdict(0, crit, 10.0, offered_rate=10.0).passed
    drops = _tally(100, 0, 50, dropped=20).verdict(0, crit, 10.0, None)
    assert not drops.passed
    assert not MasterTally().verdict(3, crit, 10.0, None).passed


def test_unrecorded_counts_the_stopped_and_the_unfinished_of_each_workers_last_report() -> None:
    """Found by the stress run: a run stopped by the master kills its users before the last
    report, so "in flight" alone read 0 while the server had worked on requests without a
    record; the engine's token counters then disagreed with the records."""
    m = MasterTally()
    w1, w2 = WorkerTally("w1"), WorkerTally("w2")
    m.merge(orjson.loads(orjson.dumps(w1.take(2, 0))))
    m.merge(w2.take(1, 1))
    m.merge(w1.take(0, 3))  # the last report of w1 replaces its first: values, not deltas
    snap = m.snapshot()
    assert snap["in_flight"] == 1 and snap["unrecorded"] == 0 + 3 + 1 + 1
