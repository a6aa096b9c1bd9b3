"""Streaming record files: gzip-compressed JSONL, written as requests complete.

Each :class:`RecordWriter` flushes a complete gzip member every ``flush_every`` records (and on
close), so a process that crashes or is killed loses at most the records since the last flush
(plus, with an ``executor``, the batches still being compressed);
:func:`read_records` reads every complete member and stops quietly at a torn tail.

Load-generator workers pass an executor backed by a native thread: compressing a batch takes
milliseconds, and doing it on the worker's event loop delays every request in flight
(measured: it was one of the causes of a p99 timing error of tens of ms; docs/calibration.md).
zlib releases the GIL while it compresses, so the loop keeps running meanwhile.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path

import orjson

from servegate.metrics.record import RequestRecord

RECORD_GLOB = "records*.jsonl.gz"


class RecordWriter:
    """Append records to ``path`` as gzip members of at most ``flush_every`` lines each.

    With ``executor`` (it must run one task at a time, in order: ``max_workers=1``), each
    batch is compressed and written there instead of in the caller; :meth:`close` waits for
    every batch. A failed background write is raised by the next :meth:`flush` or
    :meth:`close`.
    """

    def __init__(
        self,
        path: str | Path,
        flush_every: int = 64,
        executor: Executor | None = None,
        compresslevel: int = 6,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._buf: list[bytes] = []
        self._flush_every = flush_every
        self._executor = executor
        self._level = compresslevel
        self._pending: list[Future[None]] = []
        self.count = 0

    def write(self, record: RequestRecord) -> None:
        # orjson serialises the dataclass itself, the same JSON as record.to_json() at a
        # thirtieth of the cost (asdict deep-copies every chunk tuple).
        self._buf.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        self.count += 1
        if len(self._buf) >= self._flush_every:
            self.flush()

    def write_many(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            self.write(r)

    def flush(self) -> None:
        self._reap(wait=False)
        if not self._buf:
            return
        data = b"".join(self._buf)
        self._buf.clear()
        if self._executor is None:
            self._write_member(data)
        else:
            self._pending.append(self._executor.submit(self._write_member, data))

    def _write_member(self, data: bytes) -> None:
        # One gzip member per batch: members are independently decodable, so a torn write
        # damages only the last one.
        self._fh.write(gzip.compress(data, compresslevel=self._level, mtime=0))
        self._fh.flush()

    def _reap(self, wait: bool) -> None:
        """Drop finished background writes (all of them when ``wait``); raise their errors."""
        keep: list[Future[None]] = []
        error: BaseException | None = None
        for fut in self._pending:
            if wait or fut.done():
                exc = fut.exception()  # waits; every write ends before the file is closed
                error = error or exc
            else:
                keep.append(fut)
        self._pending = keep
        if error is not None:
            raise error

    def close(self) -> None:
        if self._fh.closed:
            return
        try:
            self.flush()
            self._reap(wait=True)
        finally:
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
