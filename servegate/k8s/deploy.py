"""Apply rendered objects into a namespace the run owns, wait for readiness, collect, delete.

Rules that keep a real cluster safe:
- namespaced objects always land in the run's own namespace (a ``Namespace`` object in the
  manifests is replaced by it);
- a cluster-scoped object is created only when absent; one that exists and is not labelled
  as this run's is never modified;
- deletion is by name and only of objects that carry this run's labels.
"""

from __future__ import annotations

import copy
import json
import socket
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from servegate.k8s.client import Cluster, ClusterError
from servegate.k8s.errors import api_message
from servegate.k8s.scope import MANAGED_BY, NAMESPACE_PREFIX, RunScope, creator_alive, orphaned
from servegate.redact import scrub
from servegate.wait import poll

FIELD_MANAGER = "servegate"


class DeployTimeout(ClusterError):
    """Workloads did not become ready in time; the message says which and why."""


def _resource(cluster: Cluster, api_version: str, kind: str) -> Any:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        return cluster.dynamic.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        raise ClusterError(
            f"the cluster does not serve {kind} ({api_version}): install its CRD "
            f"(see manifests/crds/) or the component that provides it"
        ) from None


def create_namespace(cluster: Cluster, scope: RunScope, test: str) -> str:
    from kubernetes import client

    name = scope.namespace_name(test)
    body = client.V1Namespace(
        metadata=client.V1ObjectMeta(
            name=name, labels=scope.labels(test), annotations=scope.annotations()
        )
    )
    cluster.core.create_namespace(body)
    return name


Applied = list[tuple[str, str, str, str | None]]

# Cluster-scoped kinds that the reference units carry and that pods refer to by name. Each run
# gets its own copy (name suffixed with the run id) so runs never share or fight over one.
_PER_RUN_CLUSTER_KINDS = {"PriorityClass"}


def per_run_names(objs: list[dict[str, Any]], scope: RunScope) -> list[dict[str, Any]]:
    """Rename per-run cluster-scoped objects and rewrite the pod templates that use them."""
    renames: dict[str, str] = {}
    out = []
    for o in objs:
        if o.get("kind") in _PER_RUN_CLUSTER_KINDS:
            o = copy.deepcopy(o)
            old = o["metadata"]["name"]
            new = f"{old}-{scope.run_id}"[:253].rstrip("-.")
            o["metadata"]["name"] = new
            renames[old] = new
        out.append(o)
    if not renames:
        return out
    result = []
    for o in out:
        pod = _pod_spec(o)
        if pod is not None and pod.get("priorityClassName") in renames:
            o = copy.deepcopy(o)
            pod = _pod_spec(o)
            assert pod is not None
            pod["priorityClassName"] = renames[pod["priorityClassName"]]
        result.append(o)
    return result


def _pod_spec(o: dict[str, Any]) -> dict[str, Any] | None:
    spec = o.get("spec")
    if not isinstance(spec, dict):
        return None
    if o.get("kind") == "Pod":
        return spec
    tmpl = spec.get("template")
    if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
        return tmpl["spec"]  # type: ignore[no-any-return]
    return None


def apply_objects(
    cluster: Cluster,
    objs: Iterable[dict[str, Any]],
    namespace: str,
    scope: RunScope,
    applied: Applied | None = None,
) -> Applied:
    """Server-side apply each object; return (apiVersion, kind, name, namespace) applied.

    ``applied`` is appended to as objects go in, so a caller's teardown knows what to delete
    even when a later object fails.
    """
    from kubernetes.client.exceptions import ApiException

    applied = [] if applied is None else applied
    for src in per_run_names(list(objs), scope):
        obj = copy.deepcopy(src)
        kind, api_version = obj.get("kind", ""), obj.get("apiVersion", "")
        if kind == "Namespace":
            continue  # the run's own namespace stands in for it
        meta = obj.setdefault("metadata", {})
        meta.setdefault("labels", {}).update(scope.labels())
        res = _resource(cluster, api_version, kind)
        name = meta.get("name", "")
        try:
            if res.namespaced:
                meta["namespace"] = namespace
                res.server_side_apply(
                    body=obj, name=name, namespace=namespace, field_manager=FIELD_MANAGER
                )
                applied.append((api_version, kind, name, namespace))
            else:
                # Annotated like the run's namespaces, so a sweep can tell a dead run's copy.
                meta.setdefault("annotations", {}).update(scope.annotations())
                _apply_cluster_scoped(res, obj, name, scope)
                applied.append((api_version, kind, name, None))
        except ApiException as exc:
            reason = api_message(exc)
            raise ClusterError(f"cannot apply {kind}/{name} into {namespace}: {reason}") from None
    return applied


def _apply_cluster_scoped(res: Any, obj: dict[str, Any], name: str, scope: RunScope) -> None:
    from kubernetes.dynamic.exceptions import NotFoundError

    try:
        existing = res.get(name=name)
    except NotFoundError:
        res.create(body=obj)
        return
    labels = dict(existing.metadata.labels or {})
    if not scope.owns(labels):
        raise ClusterError(
            f"{obj['kind']}/{name} already exists and was not created by this servegate run; "
            "refusing to modify it"
        )


def _workloads_ready(cluster: Cluster, namespace: str) -> tuple[bool, list[str]]:
    pending: list[str] = []
    for d in cluster.apps.list_namespaced_deployment(namespace).items:
        want, ready = d.spec.replicas or 0, d.status.ready_replicas or 0
        if ready < want:
            pending.append(f"Deployment/{d.metadata.name} {ready}/{want} ready")
    for s in cluster.apps.list_namespaced_stateful_set(namespace).items:
        want, ready = s.spec.replicas or 0, s.status.ready_replicas or 0
        if ready < want:
            pending.append(f"StatefulSet/{s.metadata.name} {ready}/{want} ready")
    return not pending, pending


def pod_problems(cluster: Cluster, namespace: str) -> list[str]:
    """Why pods are not ready, in words: unschedulable, image missing, crash looping, ..."""
    out: list[str] = []
    for p in cluster.core.list_namespaced_pod(namespace).items:
        name = p.metadata.name
        for c in p.status.conditions or []:
            if c.type == "PodScheduled" and c.status != "True":
                out.append(f"pod/{name} unschedulable: {c.message or c.reason}")
        for cs in p.status.container_statuses or []:
            w = cs.state.waiting if cs.state else None
            if w is not None and w.reason not in (None, "ContainerCreating"):
                out.append(f"pod/{name} {cs.name}: {w.reason}: {w.message or ''}".rstrip(": "))
            elif not cs.ready and cs.state and cs.state.running:
                out.append(f"pod/{name} {cs.name}: running, not ready (probe failing?)")
    return out


def wait_ready(cluster: Cluster, namespace: str, timeout_s: float, poll_s: float = 1.0) -> float:
    """Block until every Deployment and StatefulSet in ``namespace`` is fully ready.

    Returns the seconds waited; raises :class:`DeployTimeout` naming what is not ready.
    """
    start = time.monotonic()
    pending: list[str] = []
    while time.monotonic() - start < timeout_s:
        ok, pending = _workloads_ready(cluster, namespace)
        if ok:
            return time.monotonic() - start
        time.sleep(poll_s)
    problems = pod_problems(cluster, namespace)
    detail = "; ".join((pending + problems)[:6])
    raise DeployTimeout(f"not ready after {timeout_s:.0f}s in {namespace}: {detail}")


def namespace_secrets(core: Any, namespace: str) -> list[str]:
    """The decoded values of the namespace's Secrets (and each line of a multi-line one):
    what :func:`collect` keeps out of the results. Empty when they cannot be read."""
    import base64
    import binascii

    from kubernetes.client.exceptions import ApiException

    try:
        items = core.list_namespaced_secret(namespace).items
    except ApiException:
        return []  # not allowed to list them: the dumps cannot be scrubbed of them
    out: set[str] = set()
    for secret in items:
        for raw in (secret.data or {}).values():
            try:
                value = base64.b64decode(raw).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                continue
            out.add(value)
            out.update(line.strip() for line in value.splitlines() if line.strip())
    return sorted(out)


def collect(cluster: Cluster, namespace: str, out_dir: Path, tail_lines: int = 2000) -> None:
    """Save events, pod states and container logs of ``namespace`` into ``out_dir``, with
    every value of the namespace's Secrets replaced by ``<redacted>`` (a container that
    prints its token, an event that quotes one, must not publish it)."""
    from kubernetes.client.exceptions import ApiException

    secrets = namespace_secrets(cluster.core, namespace)
    out_dir.mkdir(parents=True, exist_ok=True)
    events = cluster.core.list_namespaced_event(namespace).items
    lines = [
        f"{e.last_timestamp or e.event_time} {e.type} {e.involved_object.kind}/"
        f"{e.involved_object.name} {e.reason}: {e.message}"
        for e in events
    ]
    (out_dir / "events.txt").write_text(scrub("\n".join(lines) + "\n", secrets))
    logs = out_dir / "logs"
    logs.mkdir(exist_ok=True)
    pods = cluster.core.list_namespaced_pod(namespace).items
    states = []
    for p in pods:
        states.append(cluster.api_client.sanitize_for_serialization(p.status))
        for c in p.spec.containers:
            try:
                text = cluster.core.read_namespaced_pod_log(
                    p.metadata.name, namespace, container=c.name, tail_lines=tail_lines
                )
            except ApiException as exc:
                text = f"(no log: {exc.status} {exc.reason})\n"
            # A container that never started has no log at all (None), not an empty one.
            text = scrub(text or "(no log yet)\n", secrets)
            (logs / f"{p.metadata.name}_{c.name}.log").write_text(text)
    states_text = json.dumps(states, indent=1, default=str)
    (out_dir / "pods.json").write_text(scrub(states_text, secrets))


def delete_run_objects(
    cluster: Cluster,
    namespace: str,
    applied: Iterable[tuple[str, str, str, str | None]],
    scope: RunScope,
    wait_s: float = 120.0,
) -> None:
    """Delete the run's namespace and the cluster-scoped objects it created."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import NotFoundError

    for api_version, kind, name, ns in applied:
        if ns is not None:
            continue
        res = _resource(cluster, api_version, kind)
        try:
            obj = res.get(name=name)
            if scope.owns(dict(obj.metadata.labels or {})):
                res.delete(name=name)
        except NotFoundError:
            pass
    ns_obj = cluster.core.read_namespace(namespace)
    if not scope.owns(ns_obj.metadata.labels) or not namespace.startswith(NAMESPACE_PREFIX):
        raise ClusterError(f"refusing to delete namespace {namespace}: not created by this run")
    try:
        cluster.core.delete_namespace(namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
    if wait_s > 0:
        wait_namespace_gone(cluster, namespace, wait_s)


STALLED_DELETION = ("NamespaceDeletionDiscoveryFailure",)
"""Namespace conditions under which its deletion cannot finish until the cluster is mended
(an APIService whose server is down): waiting longer only wastes the run's time."""


def deletion_stalled(ns: Any) -> str | None:
    """Why the namespace controller cannot finish deleting ``ns`` (a V1Namespace), or None."""
    for cond in getattr(getattr(ns, "status", None), "conditions", None) or []:
        if cond.type in STALLED_DELETION and cond.status == "True":
            return f"{cond.type}: {cond.message}"
    return None


def wait_namespace_gone(cluster: Cluster, namespace: str, timeout_s: float) -> bool:
    """True once ``namespace`` no longer exists, False when ``timeout_s`` passes first or its
    deletion is stalled by the cluster (then a warning says why, once)."""
    from kubernetes.client.exceptions import ApiException

    def gone() -> str | bool:
        try:
            ns = cluster.core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return deletion_stalled(ns) or False

    outcome = poll(gone, timeout_s)
    if isinstance(outcome, str):
        warnings.warn(
            f"namespace {namespace} is left Terminating, its contents deleted: {outcome}",
            stacklevel=2,
        )
        return False
    return outcome is not None


def sweep_orphans(cluster: Cluster, scope: RunScope, max_age_s: float | None = None) -> list[str]:
    """Delete what dead runs of this owner left: their namespaces and their cluster-scoped
    objects (PriorityClasses). Provably dead runs only (same host, creating process gone),
    unless ``max_age_s`` also lets objects older than that go (``--sweep-orphans``). Returns
    what was deleted, as ``Kind/name``."""
    from kubernetes import client

    deleted = []
    now = time.time()
    host = socket.gethostname()
    selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]}"
    scheduling = client.SchedulingV1Api(cluster.api_client)
    found = [("Namespace", ns) for ns in cluster.core.list_namespace(label_selector=selector).items]
    found += [
        ("PriorityClass", pc)
        for pc in scheduling.list_priority_class(label_selector=selector).items
    ]
    for kind, obj in found:
        labels = dict(obj.metadata.labels or {})
        ann = dict(obj.metadata.annotations or {})
        name = obj.metadata.name
        if kind == "Namespace" and not name.startswith(NAMESPACE_PREFIX):
            continue
        if not orphaned(labels, ann, scope, now, max_age_s, creator_alive(ann, host)):
            continue
        if kind == "Namespace":
            cluster.core.delete_namespace(name)
        else:
            scheduling.delete_priority_class(name)
        deleted.append(f"{kind}/{name}")
    return deleted
