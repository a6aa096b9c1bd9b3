"""Incremental Server-Sent Events framing (the WHATWG event-stream rules), without I/O.

Bytes arrive in arbitrary pieces: a line, or a UTF-8 character, may be split across reads.
:class:`SSEParser` buffers until a line terminator (``\\n``, ``\\r\\n`` or ``\\r``), ignores
comment lines (``:`` first), joins multi-line ``data`` fields with ``\\n`` and emits one
event's data per blank line. A line that is not an SSE field at all (an HTML page, a JSON
body sent with the wrong content type) marks the stream as malformed instead of being
silently skipped, so the request can be classified ``bad_sse``.
"""

from __future__ import annotations

_KNOWN_FIELDS = frozenset({"data", "event", "id", "retry"})
# A line longer than this without a terminator is not an event stream.
MAX_LINE_BYTES = 4 * 1024 * 1024


class SSEParser:
    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._pending_cr = False
        self.bad_line: str | None = None  # first line that is not SSE framing

    def feed(self, chunk: bytes) -> list[str]:
        """Add bytes; return the data of every event completed by them."""
        if not chunk:
            return []  # an empty read must not forget a pending \r
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the \n of a \r\n split across two reads
        self._pending_cr = False
        self._buf += chunk
        events: list[str] = []
        while True:
            cut = _find_eol(self._buf)
            if cut is None:
                break
            pos, width = cut
            if width == 1 and self._buf[pos : pos + 1] == b"\r" and pos + 1 == len(self._buf):
                self._pending_cr = True  # maybe the first half of \r\n
            line = self._buf[:pos]
            self._buf = self._buf[pos + width :]
            ev = self._line(line)
            if ev is not None:
                events.append(ev)
        if len(self._buf) > MAX_LINE_BYTES and self.bad_line is None:
            self.bad_line = "(line longer than 4 MiB)"
            self._buf = b""
        return events

    def close(self) -> list[str]:
        """End of stream: an event missing only its final blank line (or line end) still counts.

        Stricter than the WHATWG rule, which drops it: a server that closes right after
        ``data: [DONE]`` did finish its answer, and calling that truncated would be wrong.
        """
        events: list[str] = []
        if self._buf:
            ev = self._line(self._buf)
            self._buf = b""
            if ev is not None:
                events.append(ev)
        ev = self._line(b"")
        if ev is not None:
            events.append(ev)
        return events

    def _line(self, raw: bytes) -> str | None:
        if not raw:
            if not self._data:
                return None
            data = "\n".join(self._data)
            self._data = []
            return data
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, sep, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name not in _KNOWN_FIELDS or (not sep and name != "data"):
            if self.bad_line is None:
                self.bad_line = line[:120]
            return None
        if name == "data":
            self._data.append(value)
        return None


def _find_eol(buf: bytes) -> tuple[int, int] | None:
    """Position and width of the first line terminator in ``buf``."""
    n = buf.find(b"\n")
    r = buf.find(b"\r")
    if r == -1 and n == -1:
        return None
    if r == -1 or (n != -1 and n < r):
        return n, 1
    if r + 1 < len(buf) and buf[r + 1 : r + 2] == b"\n":
        return r, 2
    return r, 1
