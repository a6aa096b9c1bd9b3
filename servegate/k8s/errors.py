"""What the API server said, in one line: the one way servegate words a Kubernetes API error."""

from __future__ import annotations

import json
from typing import Any


def api_message(exc: Any, with_status: bool = True) -> str:
    """The ``message`` of the Status object in an ApiException's body; when the body is not
    a Status, the HTTP status and reason (``403 Forbidden``, or ``Forbidden`` without
    ``with_status``)."""
    try:
        body = json.loads(exc.body or "")
        return str(body.get("message", exc.reason))
    except (TypeError, ValueError, AttributeError):
        return f"{exc.status} {exc.reason}" if with_status else str(exc.reason)
