"""Synthetic results directories: records written with the real RecordWriter, plus run.json."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servegate.metrics.io import RecordWriter
from servegate.metrics.record import ErrorKind, RequestRecord
from servegate.metrics.run_meta import RunMeta, Span, write_run_meta

MS = 1_000_000
S = 1_000_000_000
MakeRun = Callable[..., Path]


def synthetic_records(n: int, seed: int = 7, slow: float = 1.0) -> list[RequestRecord]:
    """``n`` requests over 10 s: every 10th fails; ``slow`` scales every latency."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sent = int(i * 10 * S / n)
        if i % 10 == 9:
            out.append(
                RequestRecord(
                    f"r{i}", "chat", True, sent, sent + 5 * MS, error=ErrorKind.HTTP_5XX, status=503
                )
            )
            continue
        off = int(rng.uniform(50, 150) * MS * slow)
        chunks = []
        for _ in range(rng.randint(2, 20)):
            chunks.append((off, 1))
            off += int(rng.uniform(5, 30) * MS * slow)
        out.append(
            RequestRecord(
                f"r{i}",
                "chat",
                True,
                sent,
                sent + off,
                scheduled_ns=sent,
                chunks=chunks,
                status=200,
                prompt_tokens=20,
                completion_tokens=len(chunks),
                client_tokens=len(chunks),
            )
        )
    return out


def write_run(d: Path, records: list[RequestRecord], **kw: Any) -> Path:
    with RecordWriter(d / "records" / "w0.jsonl.gz", flush_every=8) as w:
        w.write_many(records)
    fields: dict[str, Any] = {
        "run_id": d.name,
        "profile_name": "demo",
        "endpoint": "http://127.0.0.1:9/v1",
        "model": "m",
        "start_ns": 0,
        "end_ns": 11 * S,
        "window": Span(start_ns=0, end_ns=11 * S),
    }
    fields.update(kw)
    write_run_meta(d, RunMeta(**fields))
    return d
