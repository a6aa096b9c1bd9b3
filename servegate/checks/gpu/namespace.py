"""The GPU checks' side of a live cluster: what it serves, and a namespace of the run to work in.

Every object is created in a namespace made through the run scope (prefix ``sg-``, owner
labels) or, when cluster-scoped (PriorityClasses), labelled as the run's; teardown saves the
namespace's events and pod states into the test's results directory and deletes both, also
when the test failed. Used by the fixtures (servegate.checks.gpu.fixtures), the Setup steps
(servegate.checks.gpu.setup) and the meta-tests in tests/e2e/suites.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servegate.checks.gpu import model as m
from servegate.checks.gpu.assess import QuotaOutcome
from servegate.checks.gpu.model import Obj
from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle
from servegate.k8s.client import Cluster
from servegate.k8s.deploy import create_namespace, delete_run_objects, namespace_secrets
from servegate.k8s.scope import RunScope
from servegate.redact import scrub
from servegate.wait import poll

SETTLE_TIMEOUT_S = 60.0
SETTLE_INTERVAL_S = 0.3


@dataclass
class State:
    """Nodes and pods as the API served them (dicts), read at one moment."""

    nodes: list[Obj]
    pods: list[Obj]

    def in_namespace(self, namespace: str) -> list[Obj]:
        return [p for p in self.pods if p["metadata"].get("namespace") == namespace]


def _serialised(cluster: Cluster, items: list[Any]) -> list[Obj]:
    """Objects of the kubernetes client as the plain dicts the API served."""
    ser = cluster.api_client.sanitize_for_serialization
    return [ser(item) for item in items]


def read_state(cluster: Cluster) -> State:
    return State(
        nodes=_serialised(cluster, cluster.core.list_node().items),
        pods=_serialised(cluster, cluster.core.list_pod_for_all_namespaces().items),
    )


@dataclass
class GpuNamespace:
    """A namespace owned by the run, plus the cluster-scoped objects created for it."""

    cluster: Cluster
    scope: RunScope
    name: str
    cluster_scoped: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def create(self, obj: Obj) -> Obj:
        """Create one object (labelled as the run's); the API's version of it is returned."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError

        body = copy.deepcopy(obj)
        meta = body.setdefault("metadata", {})
        meta.setdefault("labels", {}).update(self.scope.labels())
        what = f"{body.get('kind')}/{meta.get('name')}"
        try:
            res = self.cluster.dynamic.resources.get(
                api_version=body["apiVersion"], kind=body["kind"]
            )
            if res.namespaced:
                meta["namespace"] = self.name
                created = res.create(body=body, namespace=self.name)
            else:
                created = res.create(body=body)
                self.cluster_scoped.append((body["apiVersion"], body["kind"], meta["name"], None))
        except (ApiException, DynamicApiError) as exc:
            raise UserError(f"setup: cannot create {what} in {self.name}: {_reason(exc)}") from None
        return dict(created.to_dict())

    def pods(self) -> list[Obj]:
        return _serialised(self.cluster, self.cluster.core.list_namespaced_pod(self.name).items)

    def attempt(self, pod: Obj) -> QuotaOutcome:
        """Try to create a pod; what the API server answered (admission errors included)."""
        from kubernetes.client.exceptions import ApiException

        body = copy.deepcopy(pod)
        body["metadata"].setdefault("labels", {}).update(self.scope.labels())
        try:
            self.cluster.core.create_namespaced_pod(self.name, body)
        except ApiException as exc:
            return QuotaOutcome(admitted=False, status=exc.status, message=_reason(exc))
        return QuotaOutcome(admitted=True)

    def wait_settled(self, names: list[str], timeout_s: float = SETTLE_TIMEOUT_S) -> list[Obj]:
        """Poll until every named pod is bound or judged unschedulable; return the pods (as
        last seen, settled or not, when ``timeout_s`` passes first)."""
        seen: list[Obj] = []

        def settled() -> list[Obj] | None:
            pods = {m.name(p): p for p in self.pods()}
            seen[:] = [pods[n] for n in names if n in pods]
            done = len(seen) == len(names) and all(m.settled(p) for p in seen)
            return list(seen) if done else None

        found = poll(settled, timeout_s, SETTLE_INTERVAL_S)
        return found if found is not None else list(seen)


def _reason(exc: Any) -> str:
    """The API server's own message for a refused request."""
    try:
        return str(json.loads(exc.body or "").get("message", exc.reason))
    except (TypeError, ValueError, AttributeError):
        return f"{getattr(exc, 'status', '?')} {getattr(exc, 'reason', exc)}"


def _save(ns: GpuNamespace, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    secrets = namespace_secrets(ns.cluster.core, ns.name)  # never published (k8s.deploy.collect)
    events = ns.cluster.core.list_namespaced_event(ns.name).items
    text = "".join(
        f"{e.last_timestamp or e.event_time} {e.type} {e.involved_object.kind}/"
        f"{e.involved_object.name} {e.reason}: {e.message}\n"
        for e in events
    )
    (out_dir / "events.txt").write_text(scrub(text, secrets))
    pods = json.dumps(ns.pods(), indent=1, default=str)
    (out_dir / "pods.json").write_text(scrub(pods, secrets))


@contextlib.contextmanager
def gpu_namespace(handle: ClusterHandle, test: str, out_dir: Path) -> Iterator[GpuNamespace]:
    """Setup: a fresh namespace of the run. Teardown (always): save state, delete all."""
    ns = GpuNamespace(
        handle.client, handle.scope, create_namespace(handle.client, handle.scope, test)
    )
    try:
        yield ns
    finally:
        try:
            _save(ns, out_dir / "cluster")
        finally:
            delete_run_objects(handle.client, ns.name, ns.cluster_scoped, handle.scope)
