"""What every resilience check works with, and the steps they share.

:class:`Resil` bundles the cluster, the deploy and load fixtures, the error budget, and where
to write the per-check artefacts (the ``resil`` fixture, :mod:`.fixtures`, makes one).
Deploying waits for readiness itself so that a simulator image without the version label
(older than this tree) is a skip that names it, not a five-minute timeout.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servegate.checks.resilience.checks import ErrorBudget, VersionSample
from servegate.checks.resilience.k8s import UNIT, Mutate, deployment, peak_pods
from servegate.errors import MissingCapability, UserError
from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.deploy import Deployed
from servegate.harness.load import LoadResult, RunProfile
from servegate.k8s.client import Cluster
from servegate.k8s.nodes import gpu_headroom, nodes_among, pod_gpus, pods_that_fit
from servegate.k8s.rollout import RolloutError
from servegate.paths import LOADPROFILES
from servegate.report.run_index import RunResults
from servegate.wait import WaitTimeout, poll

PROFILE = "rollout"
BUDGET_FILE = LOADPROFILES / "slo" / "rollout-budget.yaml"
_TOO_OLD = "unknown simulator setting"


@dataclass
class Resil:
    cluster: ClusterHandle
    deploy_unit: DeployUnit
    run_profile: RunProfile
    results: RunResults
    test_dir: Path
    budget: ErrorBudget

    @property
    def local(self) -> bool:
        """A cluster servegate made on this machine (the embedded one or kind): its node is
        the suite's own 2 CPUs with 3 fake GPUs, so the checks ask for neither."""
        return self.cluster.kind in ("local", "kind")

    def need_gpus(self, mutate: Mutate, rolls: bool, extra: int = 0) -> None:
        """Before deploying on a cluster servegate did not make: the GPUs the check's pods
        hold at its peak (:func:`peak_pods`) must be free on the nodes that run containers,
        or the check is a missing capability saying how many it needs and how many are free
        (instead of pods that wait out the readiness deadline). Where this identity may not
        list every namespace's pods, the capacity is not judged up front."""
        if self.local:
            return
        from servegate.k8s.render import render_unit, resolve_unit

        dep = deployment(mutate(render_unit(resolve_unit(UNIT, "sim"))))
        per_pod = pod_gpus(dep["spec"]["template"]["spec"])
        if per_pod == 0:
            return
        free = free_gpus(self.cluster)
        if free is None:
            return
        pods = peak_pods(dep, rolls, extra)
        if pods_that_fit(free, per_pod) < pods:
            where = ", ".join(f"{n} {g}" for n, g in sorted(free.items())) or "no node"
            raise MissingCapability(
                f"the check runs up to {pods} model-server pods of {per_pod} GPU(s) each; "
                f"free GPUs on the nodes that run containers: {where}"
            )

    @contextlib.contextmanager
    def deployed(self, mutate: Mutate, timeout_s: float = 120.0) -> Iterator[Deployed]:
        with self.deploy_unit(UNIT, overlay="sim", wait=False, mutate=mutate) as dep:
            ready_or_skip(self.cluster.client, dep.namespace, timeout_s)
            yield dep

    @contextlib.contextmanager
    def url(self, dep: Deployed) -> Iterator[str]:
        svc = dep.find("Service")["metadata"]["name"]
        with service_url(self.cluster, dep.namespace, svc) as url:
            yield url

    def load(self, url: str) -> LoadResult:
        return self.run_profile(PROFILE, url, slo=str(BUDGET_FILE), model="auto")

    def save_samples(self, name: str, samples: list[VersionSample]) -> Path:
        path = self.test_dir / f"{name}-versions.json"
        path.write_text(json.dumps([s.__dict__ for s in samples], indent=1) + "\n")
        return path


def free_gpus(handle: ClusterHandle) -> dict[str, int] | None:
    """Free GPUs on each node that runs containers, from the API (None when this identity
    may not list the nodes or every namespace's pods)."""
    from kubernetes.client.exceptions import ApiException

    client = handle.client
    as_dict = client.api_client.sanitize_for_serialization
    try:
        runs = nodes_among(client, handle.container_nodes)
        pods = [as_dict(p) for p in client.core.list_pod_for_all_namespaces().items]
    except ApiException as exc:
        if exc.status in (401, 403):
            return None
        raise UserError(f"reading nodes and pods for GPU capacity: {exc.reason}") from None
    return gpu_headroom(runs, pods)


def ready_or_skip(cluster: Cluster, namespace: str, timeout_s: float) -> None:
    """Wait until the unit's workloads are ready; a simulator image too old for these checks
    is a :class:`MissingCapability` (a skip), pods that never get ready a one-line failure."""
    from servegate.k8s.deploy import _workloads_ready, wait_ready

    def ready() -> bool:
        if _workloads_ready(cluster, namespace)[0]:
            return True
        reason = _too_old_image(cluster, namespace)
        if reason:
            raise MissingCapability(reason)
        return False

    if poll(ready, timeout_s, 1.0):
        return
    try:
        wait_ready(cluster, namespace, 1.0)
    except UserError as exc:
        raise UserError(f"model server never became ready: {exc}") from None


def _too_old_image(cluster: Cluster, namespace: str) -> str:
    from kubernetes.client.exceptions import ApiException

    for p in cluster.core.list_namespaced_pod(namespace).items:
        for cs in p.status.container_statuses or []:
            if not cs.restart_count and not (cs.state and cs.state.terminated):
                continue
            try:
                log = cluster.core.read_namespaced_pod_log(
                    p.metadata.name, namespace, container=cs.name, previous=bool(cs.restart_count)
                )
            except ApiException:
                continue
            if _TOO_OLD in log:
                return (
                    f"the cluster's simulator image ({cs.image}) predates the settings these "
                    "checks use (SERVEGATE_SIM_MODEL_VERSION / _DRAIN_S): rebuild the local "
                    "cluster's images or set SERVEGATE_RESILIENCE_SIM_IMAGE"
                )
    return ""


@contextlib.contextmanager
def one_line(what: str) -> Iterator[None]:
    """A step that times out or that the API refuses fails the check with one line naming
    the step, not a traceback (the events and logs are saved by the deploy fixture)."""
    from kubernetes.client.exceptions import ApiException

    message = None
    try:
        yield
    except (TimeoutError, LookupError, WaitTimeout, RolloutError) as exc:
        message = f"{what}: {exc}"
    except ApiException as exc:
        from servegate.k8s.errors import api_message

        message = f"{what}: the API server refused a step: {api_message(exc)}"
    if message is not None:
        raise UserError(message)


def load_budget() -> ErrorBudget:
    from servegate.config.slo import load_slo

    spec = load_slo(BUDGET_FILE)
    return ErrorBudget(spec.name, spec.max_error_rate or 0.0)
