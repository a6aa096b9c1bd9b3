"""Fault injection: which request fails, how, and at which token, decided by the seed.

The n-th request the server accepts (counting from 0) gets its plan from a generator seeded
by ``(seed, n)`` alone, so a rerun with the same seed and the same request order injects the
same faults at the same tokens, whatever the timing. At most one fault per request; the
rates partition ``[0, 1)``.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from servegate.sim.settings import SimSettings

if TYPE_CHECKING:
    from servegate.sim.http import Responder


class FaultKind(enum.StrEnum):
    HTTP_5XX = "http_5xx"  # an error status and OpenAI-style error body instead of an answer
    STALL = "stall"  # stop sending for ``duration`` seconds before token ``at_token``
    TRUNCATE = "truncate"  # close the connection before token ``at_token``, no [DONE]
    MALFORMED = "malformed"  # an invalid SSE event (or body) before token ``at_token``
    SLOW_HEADERS = "slow_headers"  # wait ``duration`` seconds before the status line


@dataclass(frozen=True, slots=True)
class FaultPlan:
    kind: FaultKind
    at_token: int = 0  # 0-based index of the content token the fault precedes
    duration: float = 0.0
    variant: int = 0  # MALFORMED: 0 = invalid JSON after "data: ", 1 = a line without a field


def _rng(seed: int, index: int) -> random.Random:
    return random.Random(seed * 0x9E3779B97F4A7C15 + index)


def plan_fault(settings: SimSettings, index: int, output_tokens: int) -> FaultPlan | None:
    """The fault for request number ``index`` that will produce ``output_tokens`` tokens."""
    table = (
        (FaultKind.HTTP_5XX, settings.fault_http_5xx_rate),
        (FaultKind.STALL, settings.fault_stall_rate),
        (FaultKind.TRUNCATE, settings.fault_truncate_rate),
        (FaultKind.MALFORMED, settings.fault_malformed_rate),
        (FaultKind.SLOW_HEADERS, settings.fault_slow_headers_rate),
    )
    if not any(rate for _, rate in table):
        return None
    rng = _rng(settings.seed, index)
    u = rng.random()
    at = rng.randrange(max(1, output_tokens))
    variant = rng.randrange(2)
    edge = 0.0
    for kind, rate in table:
        edge += rate
        if u < edge:
            if kind is FaultKind.STALL:
                return FaultPlan(kind, at, settings.fault_stall_s)
            if kind is FaultKind.SLOW_HEADERS:
                return FaultPlan(kind, 0, settings.fault_slow_headers_s)
            if kind is FaultKind.MALFORMED:
                return FaultPlan(kind, at, variant=variant)
            return FaultPlan(kind, at)
    return None


def send_whole(resp: Responder, body: bytes, fault: FaultPlan | None) -> None:
    """Answer 200 with ``body`` in one piece (not streamed), with ``fault`` applied: TRUNCATE
    sends half of it and drops the connection, MALFORMED sends half of it as if whole, STALL
    holds it for the stall's duration."""
    if fault is not None and fault.kind is FaultKind.TRUNCATE:
        resp.send_partial(200, body[: len(body) // 2], len(body))
        return
    if fault is not None and fault.kind is FaultKind.MALFORMED:
        body = body[: len(body) // 2]
    elif fault is not None and fault.kind is FaultKind.STALL:
        resp.pause(fault.duration)
    resp.send(200, body)
