"""What servegate owns on a cluster, and how it recognises it.

Every namespace servegate creates has a fixed prefix and carries the owner labels below; every
object it applies carries them too. Nothing without them is ever modified or deleted.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import time
from dataclasses import dataclass

NAMESPACE_PREFIX = "sg-"
MANAGED_BY = ("app.kubernetes.io/managed-by", "servegate")
RUN_LABEL = "servegate.dev/run-id"
OWNER_LABEL = "servegate.dev/owner"
TEST_LABEL = "servegate.dev/test"
CREATED_ANNOTATION = "servegate.dev/created-at"
PID_ANNOTATION = "servegate.dev/pid"
HOST_ANNOTATION = "servegate.dev/host"

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """A string made safe as a label value (<= 63 chars, alphanumeric at both ends)."""
    v = _LABEL_VALUE.sub("-", text)[:63].strip("-_.")
    return v or "x"


def dns_label(text: str, limit: int = 63) -> str:
    v = re.sub(r"[^a-z0-9-]+", "-", text.lower())[:limit].strip("-")
    return v or "x"


def owner() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return label_value(f"{user}.{socket.gethostname()}")


@dataclass(frozen=True)
class RunScope:
    """The labels and annotations that mark objects of one servegate run."""

    run_id: str
    owner: str

    @classmethod
    def current(cls, run_id: str) -> RunScope:
        return cls(run_id=label_value(run_id), owner=owner())

    def labels(self, test: str | None = None) -> dict[str, str]:
        out = {MANAGED_BY[0]: MANAGED_BY[1], RUN_LABEL: self.run_id, OWNER_LABEL: self.owner}
        if test:
            out[TEST_LABEL] = label_value(test)
        return out

    def annotations(self) -> dict[str, str]:
        return {
            CREATED_ANNOTATION: str(int(time.time())),
            PID_ANNOTATION: str(os.getpid()),
            HOST_ANNOTATION: socket.gethostname(),
        }

    def namespace_name(self, test: str) -> str:
        suffix = os.urandom(2).hex()
        body = dns_label(f"{self.run_id[-12:]}-{test}", 63 - len(NAMESPACE_PREFIX) - 5)
        return f"{NAMESPACE_PREFIX}{body}-{suffix}"

    def owns(self, metadata_labels: dict[str, str] | None) -> bool:
        labels = metadata_labels or {}
        return labels.get(MANAGED_BY[0]) == MANAGED_BY[1] and labels.get(RUN_LABEL) == self.run_id


def is_servegate_object(labels: dict[str, str] | None) -> bool:
    return (labels or {}).get(MANAGED_BY[0]) == MANAGED_BY[1]


def orphaned(
    labels: dict[str, str],
    annotations: dict[str, str],
    me: RunScope,
    now: float,
    max_age_s: float,
    pid_alive: bool | None,
) -> bool:
    """Whether a servegate namespace belongs to a dead run of this owner.

    Only namespaces of the same owner are candidates. On the same host, a namespace whose
    creating process is gone is an orphan; otherwise only one older than ``max_age_s``.
    """
    if not is_servegate_object(labels) or labels.get(OWNER_LABEL) != me.owner:
        return False
    if labels.get(RUN_LABEL) == me.run_id:
        return False
    if pid_alive is False:
        return True
    try:
        created = float(annotations.get(CREATED_ANNOTATION, "0"))
    except ValueError:
        created = 0.0
    return now - created > max_age_s
