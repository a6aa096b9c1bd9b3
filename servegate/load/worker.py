"""Worker-side request execution (runs only inside Locust processes: imports gevent).

One :class:`Transport` per worker process holds a geventhttpclient pool sized to the most
requests this worker will ever have in flight, so the pool never caps concurrency silently.
:func:`send` performs one request and returns a finished :class:`RequestRecord`; every
failure is classified into an :class:`ErrorKind`, nothing escapes as an exception.
"""

from __future__ import annotations

import os
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import gevent
import orjson
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError

from servegate.config.headers import resolve as resolve_headers
from servegate.config.headers import secret_values
from servegate.config.profile import Api, Profile
from servegate.load.openai import (
    StreamState,
    apply_body,
    body_snippet,
    build_body,
    classify_status,
)
from servegate.load.prompts import Prompt
from servegate.load.sse import SSEParser
from servegate.load.stamps import STAMPS, StampedPool
from servegate.metrics.clock import mono_to_wall
from servegate.metrics.record import ErrorKind, RequestRecord
from servegate.redact import scrub

_HEADERS = {
    "Content-Type": "application/json",
    "Accept-Encoding": "identity",  # compression would batch SSE chunks
    "X-Servegate-Timestamps": "1",
}
_CLOSE = {"Connection": "close"}


class Transport:
    def __init__(
        self,
        base_url: str,
        pool_size: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``headers``: the profile's, as written; ``${env:NAME}`` is resolved here, from this
        process's environment, and the values never leave it (see config.headers)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.pool_size = pool_size
        self.headers = dict(headers or {})
        self.secrets = secret_values(self.headers, os.environ)  # scrubbed from error details
        connect_s = min(timeout, 10.0)
        self.client = HTTPClient(
            parts.hostname,
            port=parts.port,
            ssl=parts.scheme == "https",
            concurrency=pool_size,
            connection_timeout=connect_s,
            network_timeout=timeout,
            headers={**_HEADERS, **resolve_headers(self.headers, os.environ)},
        )
        self.stamped = parts.scheme == "http"
        if self.stamped:
            # the same pool, making sockets that keep kernel arrival stamps (load.stamps);
            # geventhttpclient has no constructor argument for the pool class
            port = parts.port or 80
            plain = StampedPool(
                parts.hostname,
                port,
                parts.hostname,
                port,
                size=pool_size,
                connection_timeout=connect_s,
                network_timeout=timeout,
            )
            self.client._connection_pool.close()
            self.client._connection_pool = plain

    def arrival_ns(self) -> int:
        """When the bytes of the current greenlet's last read reached this host."""
        if self.stamped and STAMPS.rx_ns:
            return STAMPS.rx_ns
        return time.perf_counter_ns()

    def close(self) -> None:
        self.client.close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def api_transports(profile: Profile, default: Transport, pool_size: int) -> dict[Api, Transport]:
    """The transport of each API of the chain: the run's own, or one per other origin."""
    by_origin: dict[str, Transport] = {}
    out: dict[Api, Transport] = {}
    for api in profile.apis:
        if not profile.endpoints.absolute(api):
            out[api] = default
            continue
        origin = _origin(profile.endpoints.path(api))
        if origin not in by_origin:
            by_origin[origin] = Transport(origin, pool_size, profile.timeout, default.headers)
        out[api] = by_origin[origin]
    return out


def request_path(transport: Transport, profile: Profile, api: Api) -> str:
    """The request target: an absolute endpoint keeps its own path, a path gets the prefix."""
    ep = profile.endpoints.path(api)
    if profile.endpoints.absolute(api):
        parts = urlsplit(ep)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return transport.prefix + ep


def send(
    transport: Transport,
    profile: Profile,
    api: Api,
    prompt: Prompt,
    worker: str,
    scheduled_ns: int | None = None,
    tags: dict[str, str] | None = None,
    model: str | None = None,
    history: list[dict[str, str]] | None = None,
    reply: list[str] | None = None,
    close: bool = False,
) -> RequestRecord:
    """``model`` overrides the profile's (a mix); ``history`` goes before the prompt and the
    answer's content is appended to ``reply`` (a conversation); ``close`` asks the server to
    close the connection after the answer (connection churn)."""
    stream = profile.stream and api != "embeddings"
    # in a chain (RAG), the embedding request carries the query, not the shared context
    text = prompt.suffix if api == "embeddings" and profile.then and prompt.suffix else prompt.text
    n_prompt = len(text.split()) if text is not prompt.text else prompt.tokens
    body = orjson.dumps(
        build_body(
            api,
            model or profile.model_for(api),
            text,
            prompt.max_tokens,
            stream,
            profile.ignore_eos,
            profile.min_tokens,
            history,
        )
    )
    path = request_path(transport, profile, api)
    sent = time.perf_counter_ns()
    rec = RequestRecord(
        request_id=uuid.uuid4().hex[:16],
        api=api,
        stream=stream,
        sent_ns=mono_to_wall(sent),
        end_ns=0,
        scheduled_ns=scheduled_ns,
        prompt_len_requested=n_prompt,
        output_len_requested=None if api == "embeddings" else prompt.max_tokens,
        worker=worker,
        tags=dict(tags or {}),
    )
    resp = None
    complete = False
    STAMPS.reset()
    try:
        with gevent.Timeout(transport.timeout, _RequestTimeout):
            resp = transport.client.request(
                "POST", path, body=body, headers=_CLOSE if close else None
            )
            if transport.stamped and STAMPS.sent_ns:
                sent = STAMPS.sent_ns  # just before the bytes went out, after building them
                rec.sent_ns = mono_to_wall(sent)
            rec.status = resp.status_code
            kind = classify_status(resp.status_code)
            if kind is not None:
                data = resp.read()
                rec.error, rec.error_detail = kind, f"HTTP {resp.status_code}: {body_snippet(data)}"
            elif stream:
                _read_stream(resp, sent, rec, transport.arrival_ns, reply)
            else:
                data = resp.read()
                apply_body(api, data, transport.arrival_ns() - sent, rec, reply)
            complete = True
    except _RequestTimeout:
        rec.error, rec.error_detail = (
            ErrorKind.TIMEOUT,
            f"no complete answer in {transport.timeout:g} s",
        )
    except TimeoutError as exc:
        rec.error = ErrorKind.TIMEOUT
        rec.error_detail = f"read timeout: {exc}"
    except (HTTPConnectionClosed, HTTPParseError, ConnectionResetError, BrokenPipeError) as exc:
        # the connection died after the request was sent: partial answer
        rec.error = ErrorKind.TRUNCATED if rec.status is not None else ErrorKind.CONNECT
        rec.error_detail = f"{type(exc).__name__}: {exc}"[:200]
    except (OSError, ssl.SSLError) as exc:
        rec.error = ErrorKind.CONNECT if rec.status is None else ErrorKind.TRUNCATED
        rec.error_detail = f"{type(exc).__name__}: {exc}"[:200]
    except Exception as exc:  # the load generator itself failed; keep the run going
        rec.error, rec.error_detail = ErrorKind.CLIENT, f"{type(exc).__name__}: {exc}"[:200]
    finally:
        if resp is not None:
            resp.release()  # closes the socket unless the body was read completely
    if transport.secrets and rec.error_detail:  # a server may echo what it was sent
        rec.error_detail = scrub(rec.error_detail, transport.secrets)
    rec.end_ns = mono_to_wall(transport.arrival_ns() if complete else time.perf_counter_ns())
    if rec.server_recv_ns is not None:
        rec.server_recv_ns = mono_to_wall(rec.server_recv_ns)
    if rec.server_chunk_ns:
        rec.server_chunk_ns = [mono_to_wall(t) for t in rec.server_chunk_ns]
        rec.server_first_ns = rec.server_chunk_ns[0]
    elif rec.server_first_ns is not None:
        rec.server_first_ns = mono_to_wall(rec.server_first_ns)
    return rec


class _RequestTimeout(Exception):
    """Raised by gevent.Timeout at the per-request deadline."""


def _read_stream(
    resp: object,
    sent: int,
    rec: RequestRecord,
    arrival: Callable[[], int],
    reply: list[str] | None = None,
) -> None:
    """Each event is timed by the arrival of the read that completed its last line."""
    parser = SSEParser()
    state = StreamState(rec.api, texts=reply)
    readline = resp.readline  # type: ignore[attr-defined]
    while True:
        line = readline(b"\n")
        if not line:
            break
        now = arrival()
        for data in parser.feed(line):
            state.on_event(data, now - sent)
    rest = resp.read()  # type: ignore[attr-defined]  # an unterminated last line
    now = arrival()
    for data in [*parser.feed(rest), *parser.close()]:
        state.on_event(data, now - sent)
    state.finish(parser.bad_line)
    state.apply(rec)
