"""RecordWriter: same JSON as to_json(), and batches written in order from a background thread."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from servegate.metrics.io import RecordWriter, read_records
from servegate.metrics.record import ErrorKind, RequestRecord


def _rec(i: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"r{i}",
        api="chat",
        stream=True,
        sent_ns=1_000 + i,
        end_ns=9_000 + i,
        scheduled_ns=None if i % 2 else 900 + i,
        chunks=[(10 * k, 1) for k in range(5)],
        status=200 if i % 3 else 503,
        error=None if i % 3 else ErrorKind.HTTP_5XX,
        error_detail="" if i % 3 else "HTTP 503: busy",
        server_recv_ns=2_000 + i,
        server_first_ns=3_000 + i,
        server_chunk_ns=[3_000 + i + k for k in range(5)],
        worker="w0",
        tags={"step": str(i % 4)},
    )


def test_lines_are_exactly_to_json(tmp_path: Path) -> None:
    path = tmp_path / "records-w0.jsonl.gz"
    with RecordWriter(path, flush_every=4) as w:
        for i in range(9):
            w.write(_rec(i))
    lines = gzip.decompress(path.read_bytes()).splitlines()  # every member, concatenated
    assert [orjson.loads(x) for x in lines] == [
        orjson.loads(orjson.dumps(_rec(i).to_json())) for i in range(9)
    ]


def test_background_batches_keep_order_and_close_waits(tmp_path: Path) -> None:
    path = tmp_path / "records-w0.jsonl.gz"
    with ThreadPoolExecutor(max_workers=1) as ex:
        w = RecordWriter(path, flush_every=3, executor=ex)
        for i in range(100):
            w.write(_rec(i))
        w.close()  # 33 full batches + a partial one, all on disk once close returns
        got = list(read_records(path))
    assert [r.request_id for r in got] == [f"r{i}" for i in range(100)]
    assert got[3].error is ErrorKind.HTTP_5XX and got[5].tags == {"step": "1"}


def test_a_failed_background_write_is_raised_and_the_file_closed(tmp_path: Path) -> None:
    def broken(data: bytes) -> None:
        raise OSError("No space left on device")

    with ThreadPoolExecutor(max_workers=1) as ex:
        w = RecordWriter(tmp_path / "records-w0.jsonl.gz", flush_every=10, executor=ex)
        w._write_member = broken  # type: ignore[method-assign]
        for i in range(5):
            w.write(_rec(i))  # buffered: the batch goes to the executor at close
        with pytest.raises(OSError, match="No space left"):
            w.close()
    assert w._fh.closed
