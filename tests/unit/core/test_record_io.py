"""Records survive a crash: complete gzip members are read, a torn tail is dropped."""

from __future__ import annotations

from pathlib import Path

from servegate.metrics.io import RecordWriter, read_records
from servegate.metrics.record import ErrorKind, RequestRecord


def _rec(i: int, err: ErrorKind | None = None) -> RequestRecord:
    return RequestRecord(str(i), "chat", True, sent_ns=i, end_ns=i + 10, chunks=[(3, 1)], error=err)


def test_round_trip_preserves_fields(tmp_path: Path) -> None:
    with RecordWriter(tmp_path / "records-w1.jsonl.gz", flush_every=2) as w:
        for i in range(5):
            w.write(_rec(i, ErrorKind.HTTP_5XX if i == 2 else None))
    got = list(read_records(tmp_path))
    assert [r.request_id for r in got] == ["0", "1", "2", "3", "4"]
    assert got[2].error is ErrorKind.HTTP_5XX
    assert got[0].chunks == [(3, 1)]


def test_torn_tail_loses_only_unflushed(tmp_path: Path) -> None:
    path = tmp_path / "records-w1.jsonl.gz"
    w = RecordWriter(path, flush_every=2)
    for i in range(4):
        w.write(_rec(i))
    w.write(_rec(4))  # buffered, never flushed: the process "dies" here
    w._fh.write(b"\x1f\x8b\x08\x00partial")  # a torn gzip member
    w._fh.flush()
    w._buf.clear()
    w._fh.close()
    assert [r.request_id for r in read_records(path)] == ["0", "1", "2", "3"]


def test_records_subdirectory_is_read(tmp_path: Path) -> None:
    with RecordWriter(tmp_path / "records" / "records-a.jsonl.gz") as w:
        w.write(_rec(1))
    with RecordWriter(tmp_path / "records" / "records-b.jsonl.gz") as w:
        w.write(_rec(2))
    assert sorted(r.request_id for r in read_records(tmp_path)) == ["1", "2"]
