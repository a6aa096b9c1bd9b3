"""Setup and Teardown of the GPU checks against a live cluster, and their fixtures.

Every object is created in a namespace made through the run scope (prefix ``sg-``, owner
labels) or, when cluster-scoped (PriorityClasses), labelled as the run's; teardown saves the
namespace's events and pod states into the test's results directory and deletes both, also
when the test failed. Imported by suites/conformance/gpu/conftest.py and tests/e2e/suites.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gpu_model as m
import pytest
from gpu_checks import QuotaOutcome
from gpu_model import Obj
from gpu_objects import Scenario, placement_scenario, use_image

SETTLE_TIMEOUT_S = 60.0


@dataclass
class State:
    """Nodes and pods as the API served them (dicts), read at one moment."""

    nodes: list[Obj]
    pods: list[Obj]

    def in_namespace(self, namespace: str) -> list[Obj]:
        return [p for p in self.pods if p["metadata"].get("namespace") == namespace]


def read_state(cluster: Any) -> State:
    ser = cluster.api_client.sanitize_for_serialization
    return State(
        nodes=[ser(n) for n in cluster.core.list_node().items],
        pods=[ser(p) for p in cluster.core.list_pod_for_all_namespaces().items],
    )


@dataclass
class GpuNamespace:
    """A namespace owned by the run, plus the cluster-scoped objects created for it."""

    cluster: Any
    scope: Any
    name: str
    cluster_scoped: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def create(self, obj: Obj) -> Obj:
        """Create one object (labelled as the run's); the API's version of it is returned."""
        body = copy.deepcopy(obj)
        meta = body.setdefault("metadata", {})
        meta.setdefault("labels", {}).update(self.scope.labels())
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError

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
            pytest.fail(f"setup: cannot create {what} in {self.name}: {_reason(exc)}", False)
        return dict(created.to_dict())

    def pods(self) -> list[Obj]:
        ser = self.cluster.api_client.sanitize_for_serialization
        return [ser(p) for p in self.cluster.core.list_namespaced_pod(self.name).items]

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
        """Poll until every named pod is bound or judged unschedulable; return the pods."""
        deadline = time.monotonic() + timeout_s
        while True:
            pods = {m.name(p): p for p in self.pods()}
            mine = [pods[n] for n in names if n in pods]
            if len(mine) == len(names) and all(m.settled(p) for p in mine):
                return mine
            if time.monotonic() > deadline:
                return mine
            time.sleep(0.3)


def _reason(exc: Any) -> str:
    """The API server's own message for a refused request."""
    try:
        return str(json.loads(exc.body or "").get("message", exc.reason))
    except (TypeError, ValueError, AttributeError):
        return f"{getattr(exc, 'status', '?')} {getattr(exc, 'reason', exc)}"


def _save(ns: GpuNamespace, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    events = ns.cluster.core.list_namespaced_event(ns.name).items
    (out_dir / "events.txt").write_text(
        "".join(
            f"{e.last_timestamp or e.event_time} {e.type} {e.involved_object.kind}/"
            f"{e.involved_object.name} {e.reason}: {e.message}\n"
            for e in events
        )
    )
    (out_dir / "pods.json").write_text(json.dumps(ns.pods(), indent=1, default=str))


@contextlib.contextmanager
def gpu_namespace(handle: Any, test: str, out_dir: Path) -> Iterator[GpuNamespace]:
    """Setup: a fresh namespace of the run. Teardown (always): save state, delete all."""
    from servegate.k8s.deploy import create_namespace, delete_run_objects

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


@pytest.fixture(scope="session")
def gpu_cluster(sg_cluster: Any) -> Any:
    """The session's cluster; every GPU check skips, naming what is missing, without GPUs."""
    reason = m.missing_gpu_reason(read_state(sg_cluster.client).nodes)
    if reason:
        pytest.skip(reason)
    if sg_cluster.kind == "local":  # never make the local real node pull from the internet
        from servegate.cluster.node.images import PAUSE

        use_image(PAUSE)
    return sg_cluster


@pytest.fixture
def gpu_ns(gpu_cluster: Any, sg_test_dir: Path, request: Any) -> Iterator[GpuNamespace]:
    """Setup/Teardown of one check: a fresh namespace of the run, always deleted."""
    with gpu_namespace(gpu_cluster, request.node.name, sg_test_dir) as ns:
        yield ns


@dataclass
class Placed:
    """The placement scenario after the scheduler settled it."""

    scenario: Scenario
    state: State
    namespace: str

    def pods(self, aspect: str | None = None) -> list[Obj]:
        wanted = self.scenario.of(aspect) if aspect else self.scenario.pods
        names = {m.name(p) for p in wanted}
        return [p for p in self.state.in_namespace(self.namespace) if m.name(p) in names]

    def require(self, aspect: str) -> list[Obj]:
        """The pods of one aspect; skips, naming what is missing, if the cluster has none."""
        if aspect in self.scenario.missing:
            pytest.skip(f"{aspect}: {self.scenario.missing[aspect]}")
        return self.pods(aspect)


@pytest.fixture(scope="module")
def placed(gpu_cluster: Any, sg_results: Any) -> Iterator[Placed]:
    """Setup shared by the allocation and placement checks: one mixed set of GPU pods in a
    fresh namespace, waited on until each is bound or unschedulable. Teardown: events and
    pod states saved under <results>/gpu-placement/cluster/, namespace deleted."""
    before = read_state(gpu_cluster.client)
    scenario = placement_scenario(before.nodes, before.pods)
    with gpu_namespace(gpu_cluster, "gpu-placement", sg_results.root / "gpu-placement") as ns:
        for pod in scenario.pods:
            ns.create(pod)
        ns.wait_settled([m.name(p) for p in scenario.pods])
        yield Placed(scenario, read_state(gpu_cluster.client), ns.name)
