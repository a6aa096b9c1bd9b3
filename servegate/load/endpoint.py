"""Pre-flight check of an endpoint, so an unreachable URL fails in one line before any load.

Any HTTP answer counts as reachable (a 404 on /v1/models still proves a server is there);
only a refused, reset, unresolvable or silent connection is an error. Uses the standard
library, not gevent: this runs in the CLI / pytest process.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from servegate.errors import UserError


def check_reachable(url: str, timeout: float = 5.0) -> int:
    """GET ``<url>/v1/models``; return its status. Raises :class:`UserError` if unreachable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--url {url!r}: expected http://host:port[/prefix]")
    try:
        port = parts.port
    except ValueError:
        raise UserError(f"--url {url!r}: invalid port") from None
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, port, timeout=timeout)
    try:
        conn.request("GET", parts.path.rstrip("/") + "/v1/models")
        resp = conn.getresponse()
        resp.read(65536)
        return int(resp.status)
    except TimeoutError:
        raise UserError(f"{url}: no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UserError(f"{url}: cannot reach the endpoint: {reason}") from None
    finally:
        conn.close()
