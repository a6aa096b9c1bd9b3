"""One simulator per Ray Serve replica, and the relay from Serve's request to it.

The replica starts ``servegate sim`` as a child process on a free loopback port (the same
:class:`~servegate.sim.process.SimProcess` the tests use) and relays each request to it with
aiohttp: method, path, query, body and the headers that describe the body go through; the
answer comes back whole, or chunk by chunk for a server-sent event stream. The simulator's
settings come from the application's ``args`` in serveConfigV2.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from servegate.errors import UserError
from servegate.sim.process import SimProcess
from servegate.sim.settings import SimSettings

FORWARDED = ("content-type", "accept", "authorization")
"""Request headers the simulator reads; the rest (hosts, proxies' own) stay behind."""
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
)
"""Response headers the HTTP server in front writes itself."""


def sim_settings(args: Mapping[str, Any]) -> dict[str, Any]:
    """The simulator's settings from an application's ``args``: every key must be a
    :class:`SimSettings` field (a misspelling is an error naming it); host and port are the
    replica's own (loopback, any free port)."""
    unknown = sorted(set(args) - set(SimSettings.model_fields))
    if unknown:
        raise UserError(f"unknown simulator settings in the Serve application args: {unknown}")
    if "host" in args or "port" in args:
        raise UserError("the Serve application args must not set host or port")
    return dict(args)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the thread that started it ends
    (PR_SET_PDEATHSIG), so a killed replica leaves no simulator behind in the container.
    The signal follows the forking *thread*, so :class:`SimBackend` forks from a thread of
    its own that lives as long as the backend (Serve runs a sync constructor in a pooled
    thread that exits when idle)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)


@dataclass(frozen=True)
class Upstream:
    status: int
    headers: dict[str, str]
    stream: bool
    body: bytes  # the whole body when not ``stream``
    chunks: AsyncIterator[bytes] | None  # the body as it arrives when ``stream``


class SimBackend:
    """A running simulator and a connection pool to it (one per replica)."""

    def __init__(self, args: Mapping[str, Any], timeout_s: float = 60.0) -> None:
        self.sim = SimProcess(timeout=timeout_s, preexec_fn=_die_with_parent, **sim_settings(args))
        self._session: aiohttp.ClientSession | None = None
        self._closed = threading.Event()
        self._parent: threading.Thread | None = None

    def start(self) -> SimBackend:
        """Start the simulator from the backend's own thread and wait until it serves."""
        started = threading.Event()
        failed: list[BaseException] = []

        def parent() -> None:
            try:
                self.sim.start()
            except BaseException as exc:  # handed to the caller below
                failed.append(exc)
                return
            finally:
                started.set()
            self._closed.wait()

        self._parent = threading.Thread(target=parent, name="sim-parent", daemon=True)
        self._parent.start()
        started.wait()
        if failed:
            raise failed[0]
        return self

    @property
    def model(self) -> str:
        return self.sim.settings.model_name

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No total timeout: a long answer streams for as long as it takes; the client
            # in front sets its own. Connecting to loopback is immediate or refused.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
            connector = aiohttp.TCPConnector(limit=0)
            self._session = aiohttp.ClientSession(
                self.sim.base_url, timeout=timeout, connector=connector, auto_decompress=False
            )
        return self._session

    async def forward(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Upstream:
        """Relay one request; an event stream comes back as chunks, anything else whole."""
        sent = {k: v for k, v in headers.items() if k.lower() in FORWARDED}
        url = f"{path}?{query}" if query else path
        resp = await self._client().request(method, url, data=body or None, headers=sent)
        kept = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
        if resp.content_type == "text/event-stream":
            return Upstream(resp.status, kept, True, b"", _chunks(resp))
        try:
            data = await resp.read()
        finally:
            resp.release()
        return Upstream(resp.status, kept, False, data, None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self.sim.stop()
        self._closed.set()
        if self._parent is not None:
            self._parent.join(timeout=5)


async def _chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The response body as the simulator sends it (one event per token); the connection
    goes back to the pool when the stream ends or the client in front goes away."""
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    finally:
        resp.release()
