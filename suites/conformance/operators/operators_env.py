"""Cluster-facing half of the operator checks: fixtures, admission calls, reads, mutations.

The controllers come from the ``kserve`` and ``kuberay`` add-ons on the local cluster (built
on first use); on any other cluster they must already be installed, or the check is skipped
with the reason. Every outcome, including a controller that failed to build, lands in the
session's "operators" section (operators_ledger).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from operators_checks import Admission, Obj
from operators_ledger import OperatorLedger

from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle

KSERVE_UNIT = "kserve-inferenceservice"
RAY_UNIT = "ray-serve"
KWOK_NODES = {"type": "kwok"}
REAL_NODE = {"servegate.io/node": "real"}

# kind -> (group, version, plural) of the custom resources the two units carry
CUSTOM = {
    "InferenceService": ("serving.kserve.io", "v1beta1", "inferenceservices"),
    "ServingRuntime": ("serving.kserve.io", "v1alpha1", "servingruntimes"),
    "RayService": ("ray.io", "v1", "rayservices"),
    "RayCluster": ("ray.io", "v1", "rayclusters"),
    "ScaledObject": ("keda.sh", "v1alpha1", "scaledobjects"),
}

NeedOperator = Callable[[str, str], None]


@pytest.fixture(scope="session")
def operator_ledger(sg_results: Any) -> Iterator[OperatorLedger]:
    ledger = OperatorLedger(sg_results)
    ledger.write()
    yield ledger
    ledger.write()


@pytest.fixture
def need_operator(sg_cluster: ClusterHandle, operator_ledger: OperatorLedger) -> NeedOperator:
    """``need_operator("kserve", "kserve")``: start the add-on (local) or require it."""
    from servegate.cluster import addons

    def need(addon: str, pattern: str) -> None:
        if sg_cluster.kind != "local":
            reason = addons.load(addon).check_existing(sg_cluster.client)
            if reason is not None:
                operator_ledger.record(pattern, "controller", "skipped", reason)
                pytest.skip(f"{addon}: {reason}")
            operator_ledger.record(pattern, "controller", "exercised", "installed on cluster")
            return
        t0 = time.monotonic()
        ctx = addons.context(sg_cluster.cluster_name)
        try:
            took = addons.enable(ctx, [addon], print, 600)
        except UserError as exc:
            operator_ledger.record(pattern, "controller", "failed", f"add-on {addon}: {exc}")
            pytest.fail(f"add-on {addon}: {exc}", pytrace=False)
        finally:
            ctx.api.close()
        spent = time.monotonic() - t0
        detail = (
            f"add-on {addon} already running"
            if took.get(addon) == 0.0
            else f"add-on {addon} built and started in {spent:.0f} s"
        )
        operator_ledger.record(pattern, "controller", "exercised", detail)

    return need


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
        try:
            message = str(json.loads(exc.body or "").get("message", exc.reason))
        except (TypeError, ValueError):
            message = str(exc.reason)
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


def poll(assess: Callable[[], list[str]], timeout_s: float, every_s: float = 2.0) -> list[str]:
    """Run ``assess`` until it passes or ``timeout_s`` ends; return the last failures."""
    deadline = time.monotonic() + timeout_s
    while True:
        failures = assess()
        if not failures or time.monotonic() > deadline:
            return failures
        time.sleep(every_s)


def save(out_dir: Path, label: str, objs: Any) -> None:
    (out_dir / f"{label}.json").write_text(json.dumps(objs, indent=2, default=str) + "\n")


__all__ = [
    "CUSTOM",
    "KSERVE_UNIT",
    "KWOK_NODES",
    "RAY_UNIT",
    "REAL_NODE",
    "NeedOperator",
    "admit",
    "custom_objects",
    "get_custom",
    "list_custom",
    "namespace_state",
    "need_operator",
    "operator_ledger",
    "pin_predictor",
    "pin_ray_pods",
    "poll",
    "save",
]
