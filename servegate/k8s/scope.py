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


def creator_alive(annotations: dict[str, str], host: str) -> bool | None:
    """Whether the process that created an object still runs: None when that cannot be known
    here (another host, no pid recorded). A pid that now belongs to a process started after
    the object was created is a reused pid: the creator is gone."""
    import psutil

    pid = annotations.get(PID_ANNOTATION, "")
    if annotations.get(HOST_ANNOTATION) != host or not pid.isdigit():
        return None
    try:
        started = psutil.Process(int(pid)).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False
    try:
        created = float(annotations.get(CREATED_ANNOTATION, ""))
    except ValueError:
        return True
    return started <= created + 1.0  # create_time is rounded; the object came after its maker


def orphaned(
    labels: dict[str, str],
    annotations: dict[str, str],
    me: RunScope,
    now: float,
    max_age_s: float | None,
    pid_alive: bool | None,
) -> bool:
    """Whether a servegate object belongs to a dead run of this owner.

    Only objects of the same owner and another run are candidates. On the same host, an
    object whose creating process is gone is an orphan (provably dead); otherwise, only when
    ``max_age_s`` is given, one older than that (a guess, made only on request).
    """
    if not is_servegate_object(labels) or labels.get(OWNER_LABEL) != me.owner:
        return False
    if labels.get(RUN_LABEL) == me.run_id:
        return False
    if pid_alive is False:
        return True
    if max_age_s is None or pid_alive is True:
        return False
    try:
        created = float(annotations.get(CREATED_ANNOTATION, "0"))
    except ValueError:
        created = 0.0
    return now - created > max_age_s
