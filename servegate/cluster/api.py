"""A minimal HTTPS JSON client for the local API server, authenticated by client certificate.

The Kubernetes Python client is a heavy import and its per-request overhead dominates when
creating a thousand Node objects; ``up`` needs only a handful of verbs, so this keeps one
keep-alive connection per thread.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from pathlib import Path
from typing import Any

from servegate.errors import UserError


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Api:
    """Talks to ``https://host:port`` with a CA bundle and a client certificate."""

    def __init__(
        self, host: str, port: int, ca: Path, cert: Path, key: Path, timeout: float = 10.0
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._ctx = ssl.create_default_context(cafile=str(ca))
        self._ctx.load_cert_chain(str(cert), str(key))
        self._local = threading.local()
        self._all: list[http.client.HTTPSConnection] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _conn(self) -> http.client.HTTPSConnection:
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                self.host, self.port, context=self._ctx, timeout=self.timeout
            )
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        """One request; JSON in and out. Retries once on a dropped keep-alive connection."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Content-Type": content_type}
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError) as exc:
                conn.close()
                self._local.conn = None
                if attempt == 1:
                    raise UserError(
                        f"API server {self.host}:{self.port} unreachable: {exc}"
                    ) from None
        if resp.status >= 400:
            try:
                message = json.loads(raw).get("message", "")
            except ValueError:
                message = raw[:200].decode("utf-8", "replace")
            raise ApiError(resp.status, message)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def create(self, path: str, obj: dict[str, Any]) -> Any:
        """POST; an object that already exists is not an error (``up`` is idempotent)."""
        try:
            return self.request("POST", path, obj)
        except ApiError as exc:
            if exc.status == 409:
                return None
            raise

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except ApiError as exc:
            if exc.status != 404:
                raise

    def close(self) -> None:
        """Close the connections of every thread that used this client."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()


def ready_nodes(nodes: list[dict[str, Any]]) -> list[str]:
    """Names of nodes whose Ready condition is True."""
    out = []
    for node in nodes:
        for cond in node.get("status", {}).get("conditions", []) or []:
            if cond.get("type") == "Ready" and cond.get("status") == "True":
                out.append(node["metadata"]["name"])
    return out
