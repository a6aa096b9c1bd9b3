"""Per-request figures derived from one :class:`RequestRecord`, in milliseconds.

The definitions follow docs/metrics.md (and vLLM, inference-perf, MLPerf): TTFT is the first
content chunk minus the send time, E2E the last byte minus the send time, TPOT
``(E2E - TTFT) / (out - 1)``, NTPOT ``E2E / out``, and ITL one sample per token: a chunk
carrying ``k`` tokens after a gap ``g`` yields ``k`` samples of ``g / k``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from servegate.metrics.record import RequestRecord

NS_PER_MS = 1_000_000.0


@dataclass(slots=True)
class Derived:
    """What one request contributes to the statistics. ``None``: not defined for it."""

    e2e: float
    queue: float | None
    e2e_with_queue: float
    ttft: float | None
    tpot: float | None
    ntpot: float | None
    output_tokens: int
    usage_missing: bool
    token_mismatch: bool
    itl: list[float] = field(default_factory=list)

    def value(self, metric: str) -> float | None:
        """A per-request metric by name (used for goodput checks)."""
        v: float | None = getattr(self, metric)
        return v


def output_tokens(rec: RequestRecord) -> tuple[int, bool]:
    """Output tokens from server usage, else the client count; and whether usage was missing."""
    if rec.completion_tokens is not None:
        return rec.completion_tokens, False
    return rec.client_tokens, True


def itl_samples(chunks: list[tuple[int, int]]) -> list[float]:
    """Per-token inter-token latencies. The first chunk has no preceding gap and gives none."""
    out: list[float] = []
    for (prev_off, _), (off, tokens) in pairwise(chunks):
        gap = (off - prev_off) / NS_PER_MS
        if tokens <= 1:  # the usual one token per chunk; a zero count still marks one gap
            out.append(gap)
        else:
            out.extend([gap / tokens] * tokens)
    return out


def derive(rec: RequestRecord) -> Derived:
    """Figures of a successful request. Streaming-only figures are ``None`` when not streamed,
    because a non-streamed body arrives at once and has no meaningful first token."""
    e2e = (rec.end_ns - rec.sent_ns) / NS_PER_MS
    queue = None if rec.scheduled_ns is None else (rec.sent_ns - rec.scheduled_ns) / NS_PER_MS
    out, usage_missing = output_tokens(rec)
    streamed = rec.stream and bool(rec.chunks)
    ttft = rec.chunks[0][0] / NS_PER_MS if streamed else None
    tpot = (e2e - ttft) / (out - 1) if ttft is not None and out >= 2 else None
    return Derived(
        e2e=e2e,
        queue=queue,
        e2e_with_queue=e2e + (queue or 0.0),
        ttft=ttft,
        tpot=tpot,
        ntpot=e2e / out if out >= 1 else None,
        output_tokens=out,
        usage_missing=usage_missing,
        token_mismatch=not usage_missing and rec.client_tokens != out,
        itl=itl_samples(rec.chunks) if streamed else [],
    )


def timing_errors(rec: RequestRecord) -> tuple[float | None, list[float]]:
    """Client minus server timing, from the server's own timestamps when it sent them.

    Returns (client TTFT - server TTFT, [client gap - server gap per chunk gap]); the gap list
    is empty when the server chunk times do not line up one-to-one with the client's chunks.
    """
    if not rec.chunks:
        return None, []
    ttft_err = None
    if rec.server_recv_ns is not None and rec.server_first_ns is not None:
        server_ttft = rec.server_first_ns - rec.server_recv_ns
        ttft_err = (rec.chunks[0][0] - server_ttft) / NS_PER_MS
    gaps: list[float] = []
    srv = rec.server_chunk_ns
    if srv is not None and len(srv) == len(rec.chunks):
        for i in range(1, len(srv)):
            client_gap = rec.chunks[i][0] - rec.chunks[i - 1][0]
            gaps.append((client_gap - (srv[i] - srv[i - 1])) / NS_PER_MS)
    return ttft_err, gaps
