"""Builders for small synthetic records whose figures are easy to compute by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from servegate.metrics.record import RequestRecord

MS = 1_000_000


def make_record(
    sent_ms: float = 0.0,
    end_ms: float = 300.0,
    chunk_ms: tuple[tuple[float, int], ...] = ((100.0, 1), (150.0, 2), (250.0, 1)),
    **kw: Any,
) -> RequestRecord:
    """A streamed chat request; chunk offsets are given in ms from the send time."""
    tokens = sum(k for _, k in chunk_ms)
    fields: dict[str, Any] = {
        "request_id": kw.pop("request_id", f"r{sent_ms}"),
        "api": "chat",
        "stream": True,
        "sent_ns": int(sent_ms * MS),
        "end_ns": int(end_ms * MS),
        "chunks": [(int(o * MS), k) for o, k in chunk_ms],
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": tokens,
        "client_tokens": tokens,
    }
    fields.update(kw)
    return RequestRecord(**fields)


@pytest.fixture
def rec() -> Callable[..., RequestRecord]:
    return make_record
