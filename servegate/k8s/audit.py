"""What an identity wrote to a cluster, from the API server's audit log, and whether each write
stayed within what one servegate run owns.

The log is the API server's own record (JSON lines, ``audit.k8s.io/v1`` events), so it is an
oracle independent of servegate's bookkeeping: a write servegate forgot to label or to list is
in it all the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from servegate.k8s.scope import NAMESPACE_PREFIX, dns_label

WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# Requests that the API answers without storing anything (reviews), or that open a stream to a
# pod of the run (port-forward, exec): "create" in the log, no object written.
_NOT_STORED = frozenset(
    {"tokenreviews", "subjectaccessreviews", "selfsubjectaccessreviews",
     "selfsubjectrulesreviews", "localsubjectaccessreviews"}
)  # fmt: skip


@dataclass(frozen=True)
class Write:
    """One write request as the audit log records it."""

    verb: str
    user: str
    resource: str  # plural, with its subresource: "pods/eviction"
    group: str
    namespace: str
    name: str
    code: int
    timestamp: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        group = f".{self.group}" if self.group else ""
        return f"{self.verb} {self.resource}{group} {where}{self.name} ({self.code})"


def writes(lines: Iterable[str], user: str) -> Iterator[Write]:
    """The writes by ``user`` in audit-log lines (unreadable lines are skipped: the log may be
    cut mid-line while the server writes)."""
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("verb") not in WRITES:
            continue
        if (event.get("user") or {}).get("username") != user:
            continue
        ref = event.get("objectRef") or {}
        resource = str(ref.get("resource", ""))
        if ref.get("subresource"):
            resource += "/" + str(ref["subresource"])
        yield Write(
            verb=str(event["verb"]),
            user=user,
            resource=resource,
            group=str(ref.get("apiGroup", "")),
            namespace=str(ref.get("namespace", "")),
            name=str(ref.get("name", "")),
            code=int((event.get("responseStatus") or {}).get("code", 0)),
            timestamp=str(event.get("requestReceivedTimestamp", "")),
        )


def read_writes(log: Path, user: str, since: str = "") -> list[Write]:
    """The writes by ``user`` recorded in ``log`` at or after the RFC 3339 time ``since``."""
    with log.open(encoding="utf-8", errors="replace") as f:
        return [w for w in writes(f, user) if w.timestamp >= since]


def outside_run(found: Iterable[Write], run_id: str) -> list[Write]:
    """The writes that do not fall within run ``run_id``: a namespace the run created (named
    ``sg-<run id>-...``; creating and deleting it included) or a cluster-scoped object named
    for the run (``<name>-<run id>`` or ``sg-<run id>-<name>``). Requests that store nothing
    are not writes."""
    prefix = f"{NAMESPACE_PREFIX}{dns_label(run_id[-12:])}-"
    named = (f"{NAMESPACE_PREFIX}{dns_label(run_id)}-", prefix)
    suffix = f"-{run_id}"
    out = []
    for w in found:
        if w.resource.split("/", 1)[0] in _NOT_STORED:
            continue
        if w.namespace:
            ours = w.namespace.startswith(prefix)
        elif w.resource == "namespaces":
            ours = w.name.startswith(prefix)
        else:
            ours = w.name.endswith(suffix) or w.name.startswith(named)
        if not ours:
            out.append(w)
    return out
