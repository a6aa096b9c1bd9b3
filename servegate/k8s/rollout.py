"""Deployment rollouts through the pinned kubectl: wait for one, list revisions, undo one.

``kubectl rollout status`` and ``kubectl rollout undo`` are what a user runs; going through
the same kubectl (the pinned wheel's, against the run's kubeconfig and context) means a check
waits for and rolls back exactly as they would. A failure is one line: a
:class:`RolloutError` naming the Deployment and why.
"""

from __future__ import annotations

import subprocess
import time

from servegate.errors import UserError
from servegate.k8s.client import Cluster
from servegate.k8s.deploy import pod_problems
from servegate.k8s.render import kubectl_binary

_MARGIN_S = 30.0  # how much longer than its own --timeout kubectl may take before it is killed


class RolloutError(UserError):
    """A rollout that did not complete, or a rollout command kubectl refused."""


def _kubectl(
    cluster: Cluster, namespace: str, args: list[str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    argv = [
        str(kubectl_binary()),
        "--kubeconfig",
        cluster.target.kubeconfig,
        "--context",
        cluster.target.context,
        "-n",
        namespace,
        *args,
    ]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RolloutError(f"kubectl {' '.join(args)}: could not run: {exc}") from None


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return lines[-1].removeprefix("error: ") if lines else f"exit {proc.returncode}"


def rollout_status(cluster: Cluster, namespace: str, name: str, timeout_s: float = 120.0) -> float:
    """Block until Deployment ``name``'s latest template is fully rolled out (``kubectl
    rollout status``); return the seconds waited.

    Raises :class:`RolloutError` naming the Deployment's failing conditions and pod problems
    (kubectl's own message when there are none).
    """
    t0 = time.monotonic()
    args = ["rollout", "status", f"deployment/{name}", f"--timeout={timeout_s:g}s"]
    proc = _kubectl(cluster, namespace, args, timeout_s + _MARGIN_S)
    if proc.returncode == 0:
        return time.monotonic() - t0
    why = _failing_conditions(cluster, namespace, name) + pod_problems(cluster, namespace)
    detail = "; ".join(why[:4]) or _last_line(proc)
    raise RolloutError(f"Deployment/{name} not rolled out after {timeout_s:.0f}s: {detail}")


def _failing_conditions(cluster: Cluster, namespace: str, name: str) -> list[str]:
    from kubernetes.client.exceptions import ApiException

    try:
        d = cluster.apps.read_namespaced_deployment(name, namespace)
    except ApiException:
        return []
    return [
        f"{c.type}: {c.message}"
        for c in d.status.conditions or []
        if c.type == "ReplicaFailure" or c.status != "True"
    ]


def rollout_history(cluster: Cluster, namespace: str, name: str) -> list[int]:
    """The revisions of Deployment ``name`` that ``kubectl rollout history`` lists, ascending."""
    proc = _kubectl(cluster, namespace, ["rollout", "history", f"deployment/{name}"], 60.0)
    if proc.returncode != 0:
        raise RolloutError(f"Deployment/{name}: rollout history failed: {_last_line(proc)}")
    # A title line, then a "REVISION  CHANGE-CAUSE" table.
    revisions = [
        int(w[0]) for w in (ln.split() for ln in proc.stdout.splitlines()) if w and w[0].isdigit()
    ]
    return sorted(revisions)


def rollout_undo(
    cluster: Cluster, namespace: str, name: str, to_revision: int | None = None
) -> int:
    """``kubectl rollout undo``: put back the pod template of ``to_revision`` (by default the
    revision before the current one); return that revision.

    The Deployment controller then rolls the template out like any other change: wait for it
    with :func:`rollout_status`.
    """
    if to_revision is None:
        revisions = rollout_history(cluster, namespace, name)
        if len(revisions) < 2:
            current = revisions[-1] if revisions else 0
            raise RolloutError(
                f"Deployment/{name} has no revision before {current} to roll back to"
            )
        to_revision = revisions[-2]
    args = ["rollout", "undo", f"deployment/{name}", f"--to-revision={to_revision}"]
    proc = _kubectl(cluster, namespace, args, 60.0)
    if proc.returncode != 0:
        raise RolloutError(
            f"Deployment/{name}: rollout undo to revision {to_revision} failed: {_last_line(proc)}"
        )
    return to_revision
