"""Streaming record files: gzip-compressed JSONL, written as requests complete.

Each :class:`RecordWriter` flushes a complete gzip member every ``flush_every`` records (and on
close), so a process that crashes or is killed loses at most the records since the last flush;
:func:`read_records` reads every complete member and stops quietly at a torn tail.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from servegate.metrics.record import RequestRecord

RECORD_GLOB = "records*.jsonl.gz"


class RecordWriter:
    """Append records to ``path`` as gzip members of at most ``flush_every`` lines each."""

    def __init__(self, path: str | Path, flush_every: int = 64) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._buf: list[bytes] = []
        self._flush_every = flush_every
        self.count = 0

    def write(self, record: RequestRecord) -> None:
        self._buf.append(orjson.dumps(record.to_json()) + b"\n")
        self.count += 1
        if len(self._buf) >= self._flush_every:
            self.flush()

    def write_many(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            self.write(r)

    def flush(self) -> None:
        if not self._buf:
            return
        # One gzip member per batch: members are independently decodable, so a torn write
        # damages only the last one.
        self._fh.write(gzip.compress(b"".join(self._buf), compresslevel=6, mtime=0))
        self._fh.flush()
        self._buf.clear()

    def close(self) -> None:
        if self._fh.closed:
            return
        self.flush()
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _complete_members(data: bytes) -> Iterator[bytes]:
    """Yield the decompressed payload of each complete gzip member; stop at a torn one."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(view[pos:])
        except zlib.error:
            return
        if not d.eof:
            return  # truncated member: the writer died mid-flush
        yield out
        consumed = len(view) - pos - len(d.unused_data)
        pos += consumed


def iter_file(path: str | Path) -> Iterator[RequestRecord]:
    data = Path(path).read_bytes()
    for payload in _complete_members(data):
        for line in io.BytesIO(payload):
            line = line.strip()
            if not line:
                continue
            try:
                yield RequestRecord.from_json(orjson.loads(line))
            except (orjson.JSONDecodeError, TypeError, ValueError):
                continue


def read_records(run_dir_or_file: str | Path) -> Iterator[RequestRecord]:
    """All records in a results directory (every ``records*.jsonl.gz``), or in one file."""
    p = Path(run_dir_or_file)
    files = (
        [p] if p.is_file() else sorted(p.glob(RECORD_GLOB)) + sorted(p.glob("records/*.jsonl.gz"))
    )
    for f in files:
        yield from iter_file(f)
