"""A small HTTP/1.1 server on asyncio's Protocol API with httptools as the parser.

Why not aiohttp or an ASGI server: the simulator must stream tens of thousands of SSE
events per second on one core, one event per token as vLLM sends them. Writing pre-built
bytes straight to the transport costs a few microseconds per event; a framework's response
objects and middleware cost several times that. Requests on one connection are answered
in order (pipelined ones wait their turn); streamed bodies use chunked encoding.
"""

from __future__ import annotations

import asyncio
import sys
import time
import traceback
import typing
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httptools

from servegate.sim.oai import error_body

MAX_BODY = 32 * 1024 * 1024
DRAIN_LINGER_S = 1.0  # how long a drained connection waits for the request its client sent


@dataclass(slots=True, eq=False)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    recv_ns: int = field(init=False, default_factory=time.perf_counter_ns)


Handler = Callable[[Request, "Responder"], Awaitable[None]]


class Responder:
    """Writes one response. Methods are no-ops once the connection is gone."""

    __slots__ = (
        "_conn",
        "_finish_pending",
        "_held",
        "done",
        "fixed_headers",
        "lost",
        "on_lost",
        "request",
    )

    def __init__(self, conn: Connection, request: Request) -> None:
        self._conn = conn
        self.request = request
        self._held: list[bytes] | None = None
        self._finish_pending = False
        self.done = False
        self.lost = False
        self.on_lost: Callable[[], None] | None = None
        self.fixed_headers = b""  # sent with every response (the app's version label)

    def _head(self, status: int, ctype: bytes, length: int | None, extra: bytes) -> bytes:
        req = self.request
        parts = [
            b"HTTP/1.1 %d %s\r\nserver: servegate-sim\r\ncontent-type: %s\r\n"
            % (status, HTTPStatus(status).phrase.encode(), ctype),
            b"content-length: %d\r\n" % length
            if length is not None
            else b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n",
            b"x-servegate-recv-ns: %d\r\n" % req.recv_ns,
            self.fixed_headers,
            extra,
            b"" if req.keep_alive else b"connection: close\r\n",
            b"\r\n",
        ]
        return b"".join(parts)

    def _out(self, data: bytes) -> None:
        if self.lost:
            return
        if self._held is not None:
            self._held.append(data)
        else:
            self._conn.write(data)

    def send(
        self,
        status: int,
        body: bytes,
        ctype: bytes = b"application/json",
        extra_headers: bytes = b"",
    ) -> None:
        self._out(self._head(status, ctype, len(body), extra_headers) + body)
        self.finish()

    def send_partial(self, status: int, body: bytes, declared: int) -> None:
        """Declare ``declared`` bytes, send ``body`` (shorter), then drop the connection."""
        self._out(self._head(status, b"application/json", declared, b"") + body)
        self.abort()

    def start_stream(self, status: int = 200) -> None:
        self._out(self._head(status, b"text/event-stream; charset=utf-8", None, b""))

    def event(self, data: bytes) -> None:
        """Send one SSE event (``data`` includes its blank-line terminator) as one chunk."""
        chunk = b"%x\r\n%s\r\n" % (len(data), data)
        if self._held is None and not self.lost:  # the hot path: one call less per token
            self._conn.write(chunk)
        else:
            self._out(chunk)

    def events(self, first: bytes, second: bytes) -> None:
        """Two events, each its own chunk, in one write (the role chunk and first token)."""
        self._out(b"%x\r\n%s\r\n%x\r\n%s\r\n" % (len(first), first, len(second), second))

    def end_stream(self) -> None:
        self._out(b"0\r\n\r\n")
        self.finish()

    def pause(self, seconds: float) -> None:
        """Hold every write for ``seconds`` (a stall), then flush what piled up."""
        if self._held is None:
            self._held = []
            asyncio.get_running_loop().call_later(seconds, self._release)

    def _release(self) -> None:
        held, self._held = self._held or [], None
        if not self.lost and held:
            self._conn.write(b"".join(held))
        if self._finish_pending:
            self._finish_pending = False
            self.finish()

    def finish(self) -> None:
        if self.done:
            return
        if self._held is not None:
            self._finish_pending = True
            return
        self.done = True
        self._conn.response_done(self)

    def abort(self) -> None:
        """Close the connection now, mid-response (a truncated stream)."""
        self.done = True
        self._conn.close()

    def connection_lost(self) -> None:
        self.lost = True
        if self.on_lost is not None:
            cb, self.on_lost = self.on_lost, None
            cb()


class Connection(asyncio.Protocol):
    def __init__(
        self,
        handler: Handler,
        tasks: set[asyncio.Task[None]],
        conns: set[Connection],
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self._on_connect = on_connect
        self._handler = handler
        self._tasks = tasks
        self._conns = conns
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_len = 0
        self._queue: deque[Request] = deque()
        self._current: Responder | None = None
        self._closing = False
        self._pending: list[bytes] = []
        self._flush_scheduled = False
        self.draining = False  # shutting down: finish what was asked, then close
        self._linger_s = DRAIN_LINGER_S

    # --- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = typing.cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._conns.add(self)
        if self._on_connect is not None:
            self._on_connect()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if self._body_len > MAX_BODY:  # raised in on_body; httptools hides its message
                self._reject(413, f"request body larger than {MAX_BODY} bytes")
            else:
                self._reject(400, f"malformed HTTP request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._conns.discard(self)
        self._queue.clear()
        if self._current is not None:
            self._current.connection_lost()
            self._current = None

    # --- httptools callbacks --------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_len = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > MAX_BODY:
            raise httptools.HttpParserError("request body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        path = self._url.split(b"?", 1)[0].decode("latin-1")
        req = Request(
            self._parser.get_method().decode("latin-1"),
            path,
            self._headers,
            b"".join(self._body),
            bool(self._parser.should_keep_alive()),
        )
        self._queue.append(req)
        if self._current is None:
            self._next()

    # --- responses ------------------------------------------------------------------------
    def _next(self) -> None:
        if self._closing or not self._queue:
            return
        req = self._queue.popleft()
        if self.draining:
            req.keep_alive = False  # tell the client not to send more on this connection
        resp = Responder(self, req)
        self._current = resp
        task = asyncio.get_running_loop().create_task(self._run(req, resp))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, req: Request, resp: Responder) -> None:
        try:
            await self._handler(req, resp)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not kill the server; report it to the client
            traceback.print_exc(file=sys.stderr)
            if not resp.done:
                body = b'{"error":{"message":"internal simulator error: %s","type":"InternalServerError","param":null,"code":500}}'  # noqa: E501
                resp.send(500, body % type(exc).__name__.encode())

    def _reject(self, status: int, message: str) -> None:
        if self._transport is not None and not self._closing:
            body = error_body(status, message)
            self.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s"
                % (status, HTTPStatus(status).phrase.encode(), len(body), body)
            )
        self.close()

    def write(self, data: bytes) -> None:
        """Send now if this is the connection's first write since the last flush, else queue.

        The first write goes to the socket at once, so a chunk's ``emit_ns`` (stamped while
        its bytes are built) is microseconds before the bytes leave, not a loop iteration
        before. Writes that follow in the same loop iteration (the engine running overdue
        steps back to back) are queued and leave together in one send when the iteration
        ends, instead of one system call per token.
        """
        if self._transport is None or self._closing:
            return
        if self._flush_scheduled:
            self._pending.append(data)
            return
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)
        if not self._transport.is_closing():
            self._transport.write(data)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        if self._transport is not None and pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending) if len(pending) > 1 else pending[0])

    def close(self) -> None:
        if self._transport is not None and not self._closing:
            self._flush()
            self._closing = True
            self._transport.close()

    def drain(self, linger_s: float = DRAIN_LINGER_S) -> None:
        """Graceful shutdown of this connection: close it now if idle, else after its
        requests are answered (each with ``connection: close``).

        A response already under way announced keep-alive, so its client may send the next
        request as soon as it ends: the connection stays open ``linger_s`` for it (answered
        with ``connection: close``) instead of resetting it, as a draining proxy does.
        """
        self.draining = True
        self._linger_s = linger_s
        if self._current is None and not self._queue:
            self.close()

    def response_done(self, resp: Responder) -> None:
        if resp is not self._current:
            return
        self._current = None
        if not resp.request.keep_alive:
            self.close()
        elif self.draining and not self._queue:
            loop = asyncio.get_running_loop()
            loop.call_later(self._linger_s, self._close_if_idle)
        else:
            self._next()

    def _close_if_idle(self) -> None:
        if self._current is None and not self._queue:
            self.close()


class HttpServer:
    """A listening socket plus what is needed to shut it down cleanly."""

    def __init__(self, handler: Handler, on_connect: Callable[[], None] | None = None) -> None:
        self.handler = handler
        self.on_connect = on_connect  # called for each accepted connection
        self.tasks: set[asyncio.Task[None]] = set()
        self.conns: set[Connection] = set()
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int, **kwargs: Any) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: Connection(self.handler, self.tasks, self.conns, self.on_connect),
            host,
            port,
            reuse_address=True,
            backlog=1024,
            **kwargs,
        )
        port_bound: int = self.server.sockets[0].getsockname()[1]
        return port_bound

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop listening, cancel in-flight requests, close every connection.

        With ``drain_s`` > 0, first let in-flight requests finish for up to that long, as
        uvicorn (vLLM's server) does on SIGTERM: idle keep-alive connections close at once,
        busy ones after their response, plus the request their client may already have sent
        on it (see :meth:`Connection.drain`). A rolling update then loses no request.
        """
        if self.server is not None:
            self.server.close()
        if drain_s > 0:
            for conn in list(self.conns):
                conn.drain()
            deadline = time.monotonic() + drain_s
            while (self.tasks or self.conns) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for conn in list(self.conns):
            conn.close()
        if self.server is not None:
            await self.server.wait_closed()
