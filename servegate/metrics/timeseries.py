"""Per-second time series over the whole run (warm-up and cool-down included, for plots).

Second ``t`` covers ``[start + t s, start + (t + 1) s)``. Completions and errors count at
``end_ns``; tokens at their chunk's arrival; TTFT at the first chunk's arrival; concurrency is
the time-average number of requests in flight over the second.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from servegate.metrics.derive import NS_PER_MS, output_tokens
from servegate.metrics.record import RequestRecord
from servegate.metrics.stats import percentile
from servegate.metrics.summary import TimePoint

NS_PER_S = 1_000_000_000
MAX_POINTS = 86_400  # one day of seconds: bounds memory if a clock is wildly off


def timeseries(records: Sequence[RequestRecord], start_ns: int) -> list[TimePoint]:
    if not records:
        return []
    last = max(r.end_ns for r in records)
    n = min(max((last - start_ns) // NS_PER_S + 1, 1), MAX_POINTS)
    ok = [0] * n
    err = [0] * n
    tokens = [0] * n
    busy_ns = [0] * n
    ttfts: dict[int, list[float]] = defaultdict(list)

    def sec(t_ns: int) -> int | None:
        b = (t_ns - start_ns) // NS_PER_S
        return b if 0 <= b < n else None

    for r in records:
        b = sec(r.end_ns)
        if b is not None:
            if r.ok:
                ok[b] += 1
            else:
                err[b] += 1
        if r.ok:
            _spread_tokens(r, sec, tokens)
            if r.stream and r.chunks:
                fb = sec(r.sent_ns + r.chunks[0][0])
                if fb is not None:
                    ttfts[fb].append(r.chunks[0][0] / NS_PER_MS)
        lo, hi = max(r.sent_ns, start_ns), r.end_ns
        first = max((lo - start_ns) // NS_PER_S, 0)
        for b2 in range(first, min((hi - start_ns) // NS_PER_S + 1, n)):
            s0 = start_ns + b2 * NS_PER_S
            busy_ns[b2] += max(0, min(hi, s0 + NS_PER_S) - max(lo, s0))

    points = []
    for b in range(n):
        xs = sorted(ttfts.get(b, []))
        points.append(
            TimePoint(
                t_s=b,
                requests_ok=ok[b],
                errors=err[b],
                output_tokens=tokens[b],
                concurrency=busy_ns[b] / NS_PER_S,
                ttft_p50_ms=percentile(xs, 0.5) if xs else None,
                ttft_p99_ms=percentile(xs, 0.99) if xs else None,
            )
        )
    return points


def _spread_tokens(r: RequestRecord, sec: Callable[[int], int | None], tokens: list[int]) -> None:
    """Add a request's output tokens at their chunk arrivals (at the end when no chunks)."""
    total, _ = output_tokens(r)
    if not r.chunks:
        b = sec(r.end_ns)
        if b is not None:
            tokens[b] += total
        return
    for off, k in r.chunks:
        b = sec(r.sent_ns + off)
        if b is not None:
            tokens[b] += k
