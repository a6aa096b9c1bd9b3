"""Cluster-facing half of the operator checks: the add-ons, admission calls, reads, placement.

The controllers come from the ``kserve`` and ``kuberay`` add-ons on the local cluster (built
on first use); on any other cluster they must already be installed, or the check is skipped
with the reason. Every outcome, including a controller that failed to build, lands in the
session's "operators" section (``ledger``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.checks.operators.checks import Admission, Obj
from servegate.checks.operators.ledger import OperatorLedger
from servegate.errors import MissingCapability, UserError
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.harness.deploy import Deployed
from servegate.k8s.errors import api_message
from servegate.wait import poll

KSERVE_UNIT = "kserve-inferenceservice"
RAY_UNIT = "ray-serve"
KWOK_NODES = {"type": "kwok"}

# kind -> (group, version, plural) of the custom resources the two units carry
CUSTOM = {
    "InferenceService": ("serving.kserve.io", "v1beta1", "inferenceservices"),
    "ServingRuntime": ("serving.kserve.io", "v1alpha1", "servingruntimes"),
    "RayService": ("ray.io", "v1", "rayservices"),
    "RayCluster": ("ray.io", "v1", "rayclusters"),
    "ScaledObject": ("keda.sh", "v1alpha1", "scaledobjects"),
}

Mutate = Callable[[list[Obj]], list[Obj]]


@dataclass
class OperatorCheck:
    """What one operator check works with: the cluster, its unit deployer, the session's
    ledger and the test's results directory (fixture ``operator_check``)."""

    cluster: ClusterHandle
    deploy_unit: DeployUnit
    ledger: OperatorLedger
    out_dir: Path

    @property
    def local(self) -> bool:
        return self.cluster.kind == "local"

    def need(self, addon: str, pattern: str) -> None:
        """Start the add-on (local cluster) or require it installed (any other: else skip)."""
        from servegate.cluster import addons

        if not self.local:
            reason = addons.load(addon).check_existing(self.cluster.client)
            if reason is not None:
                self.ledger.record(pattern, "controller", "skipped", reason)
                raise MissingCapability(f"{addon}: {reason}")
            self.ledger.record(pattern, "controller", "exercised", "installed on cluster")
            return
        t0 = time.monotonic()
        ctx = addons.context(self.cluster.cluster_name)
        try:
            took = addons.enable(ctx, [addon], print, 600)
        except UserError as exc:
            self.ledger.record(pattern, "controller", "failed", f"add-on {addon}: {exc}")
            raise UserError(f"add-on {addon}: {exc}") from None
        finally:
            ctx.api.close()
        spent = time.monotonic() - t0
        detail = (
            f"add-on {addon} already running"
            if took.get(addon) == 0.0
            else f"add-on {addon} built and started in {spent:.0f} s"
        )
        self.ledger.record(pattern, "controller", "exercised", detail)

    def deploy_sim(
        self, unit: str, pin: Mutate | None = None
    ) -> contextlib.AbstractContextManager[Deployed]:
        """The unit's sim overlay in a fresh namespace, not waited for: the controller makes
        the workloads (or none runs), so ``pin`` places the pods through the custom resource."""
        return self.deploy_unit(unit, overlay="sim", wait=False, runs_containers=False, mutate=pin)

    def stop_on(self, pattern: str, aspect: str, failures: list[str]) -> None:
        """With failures: record them as the aspect's outcome and fail the test with them."""
        if failures:
            self.ledger.record(pattern, aspect, "failed", "; ".join(failures[:4]))
            raise UserError("\n".join(failures))


def empty_namespace(
    deploy_unit: DeployUnit, unit: str, overlay: str
) -> contextlib.AbstractContextManager[Deployed]:
    """A run-owned namespace with none of ``unit``'s objects in it, to dry-run them into."""
    return deploy_unit(
        unit, overlay=overlay, wait=False, runs_containers=False, mutate=lambda _objs: []
    )


def custom_api(handle: ClusterHandle) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(handle.client.api_client)


def admit(handle: ClusterHandle, namespace: str, obj: Obj, dry_run: bool) -> Admission:
    """Create ``obj`` with strict field validation (unknown fields refused, not pruned)."""
    from kubernetes.client.exceptions import ApiException

    kind, obj_name = obj["kind"], obj["metadata"]["name"]
    group, version, plural = CUSTOM[kind]
    mode = "dry-run" if dry_run else "create"
    body = copy.deepcopy(obj)
    body["metadata"]["namespace"] = namespace
    try:
        custom_api(handle).create_namespaced_custom_object(
            group,
            version,
            namespace,
            plural,
            body,
            dry_run="All" if dry_run else None,
            field_validation="Strict",
        )
    except ApiException as exc:
        message = api_message(exc, with_status=False)
        return Admission(kind, obj_name, mode, False, exc.status, message)
    return Admission(kind, obj_name, mode, True, 201)


def list_custom(handle: ClusterHandle, kind: str, namespace: str) -> list[Obj]:
    group, version, plural = CUSTOM[kind]
    got = custom_api(handle).list_namespaced_custom_object(group, version, namespace, plural)
    return list(got.get("items", []))


def get_custom(handle: ClusterHandle, kind: str, namespace: str, obj_name: str) -> Obj:
    group, version, plural = CUSTOM[kind]
    api = custom_api(handle)
    return dict(api.get_namespaced_custom_object(group, version, namespace, plural, obj_name))


def as_dicts(handle: ClusterHandle, items: list[Any]) -> list[Obj]:
    """Typed client objects as the API's JSON (camelCase keys)."""
    return [handle.client.api_client.sanitize_for_serialization(i) for i in items]


def namespace_state(handle: ClusterHandle, namespace: str) -> dict[str, list[Obj]]:
    core, apps = handle.client.core, handle.client.apps
    return {
        "deployments": as_dicts(handle, apps.list_namespaced_deployment(namespace).items),
        "services": as_dicts(handle, core.list_namespaced_service(namespace).items),
        "pods": as_dicts(handle, core.list_namespaced_pod(namespace).items),
        "nodes": as_dicts(handle, core.list_node().items),
    }


def custom_objects(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o.get("kind") in CUSTOM]


def pin_predictor(objects: list[Obj], selector: dict[str, str]) -> list[Obj]:
    """Add ``selector`` to every InferenceService predictor (KServe copies it to the pods)."""
    out = []
    for o in objects:
        if o.get("kind") == "InferenceService":
            o = copy.deepcopy(o)
            o["spec"]["predictor"].setdefault("nodeSelector", {}).update(selector)
        out.append(o)
    return out


def require_nodes(pod_spec: Obj, nodes: tuple[str, ...]) -> None:
    """Require one of ``nodes`` (by name) in ``pod_spec`` (a pod spec or an InferenceService
    predictor), in place, on top of the node affinity it already asks for: each alternative
    term gets the pin."""
    pin = {"key": "metadata.name", "operator": "In", "values": list(nodes)}
    required = (
        pod_spec.setdefault("affinity", {})
        .setdefault("nodeAffinity", {})
        .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    )
    terms = required.setdefault("nodeSelectorTerms", []) or [{}]
    for term in terms:
        term.setdefault("matchFields", []).append(copy.deepcopy(pin))
    required["nodeSelectorTerms"] = terms


def pin_predictor_to(objects: list[Obj], nodes: tuple[str, ...]) -> list[Obj]:
    """Require one of ``nodes`` (by name) for every InferenceService predictor, on top of the
    placement it asks for (KServe copies the predictor's affinity to the pods)."""
    out = []
    for o in objects:
        if o.get("kind") == "InferenceService":
            o = copy.deepcopy(o)
            require_nodes(o["spec"]["predictor"], nodes)
        out.append(o)
    return out


def pin_ray_pods_to(objects: list[Obj], nodes: tuple[str, ...]) -> list[Obj]:
    """Require one of ``nodes`` (by name) for the head and every worker group of each
    RayService, on top of the placement each asks for."""
    out = []
    for o in objects:
        if o.get("kind") == "RayService":
            o = copy.deepcopy(o)
            cfg = o["spec"]["rayClusterConfig"]
            for g in [cfg["headGroupSpec"], *cfg.get("workerGroupSpecs", [])]:
                require_nodes(g["template"]["spec"], nodes)
        out.append(o)
    return out


def pin_ray_pods(objects: list[Obj], selector: dict[str, str]) -> list[Obj]:
    """Add ``selector`` to the head and every worker group of each RayService."""
    out = []
    for o in objects:
        if o.get("kind") == "RayService":
            o = copy.deepcopy(o)
            cfg = o["spec"]["rayClusterConfig"]
            groups = [cfg["headGroupSpec"], *cfg.get("workerGroupSpecs", [])]
            for g in groups:
                g["template"]["spec"].setdefault("nodeSelector", {}).update(selector)
        out.append(o)
    return out


def kwok_pinned(objects: list[Obj]) -> list[Obj]:
    """Every pod a controller may make from these objects, bound to kwok nodes (nothing runs)."""
    return pin_ray_pods(pin_predictor(objects, KWOK_NODES), KWOK_NODES)


def until_passes(
    assess: Callable[[], list[str]], timeout_s: float, every_s: float = 2.0
) -> list[str]:
    """Run ``assess`` until it passes or ``timeout_s`` ends; return the last failures."""
    last: list[str] = []

    def passes() -> bool:
        nonlocal last
        last = assess()
        return not last

    poll(passes, timeout_s, every_s)
    return last


def save(out_dir: Path, label: str, objs: Any) -> None:
    (out_dir / f"{label}.json").write_text(json.dumps(objs, indent=2, default=str) + "\n")
