"""Every operator check, shown able to fail: each Assess function of
servegate.checks.operators.checks passes on a reconciled state shaped like the controllers' output
and reports a deliberately broken copy with a message naming what is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servegate.checks.operators.checks import (
    Admission,
    assess_accepted,
    assess_inferenceservice,
    assess_rayservice,
    assess_rejected,
    assess_stored,
)

Obj = dict[str, Any]


def _meta(name: str, uid: str = "", owner: str = "", labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "uid": uid or f"uid-{name}", "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{"uid": owner}]
    return meta


def _container(name: str, gpu: str | None) -> Obj:
    res = {"requests": {"nvidia.com/gpu": gpu}, "limits": {"nvidia.com/gpu": gpu}} if gpu else {}
    return {"name": name, "resources": res}


# --- KServe -------------------------------------------------------------------------------

ISVC_MANIFEST: Obj = {
    "kind": "InferenceService",
    "metadata": {"name": "llm", "annotations": {"serving.kserve.io/autoscalerClass": "keda"}},
    "spec": {"predictor": {"containers": [_container("kserve-container", "1")]}},
}


def _isvc_state() -> dict[str, Any]:
    isvc = {
        "metadata": _meta("llm", "isvc-1"),
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    pod = {
        "metadata": _meta(
            "llm-predictor-abc", labels={"serving.kserve.io/inferenceservice": "llm"}
        ),
        "spec": {"nodeName": "real-0", "containers": [_container("kserve-container", "1")]},
        "status": {"phase": "Running"},
    }
    return {
        "isvc": isvc,
        "deployments": [{"metadata": _meta("llm-predictor", owner="isvc-1")}],
        "services": [{"metadata": _meta("llm-predictor"), "spec": {"clusterIP": "10.96.0.9"}}],
        "pods": [pod],
        "scaledobjects": [
            {
                "metadata": _meta("llm-predictor", owner="isvc-1"),
                "spec": {"scaleTargetRef": {"name": "llm-predictor"}},
            }
        ],
        "nodes": [
            {"metadata": _meta("real-0", labels={"servegate.io/node": "real"})},
            {
                "metadata": {
                    **_meta("kwok-0", labels={"type": "kwok"}),
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                }
            },
        ],
    }


def _assess_isvc(state: dict[str, Any]) -> list[str]:
    return assess_inferenceservice(ISVC_MANIFEST, **state)


def test_inferenceservice_check_passes_on_a_reconciled_state() -> None:
    assert _assess_isvc(_isvc_state()) == []


def _not_ready(s: dict[str, Any]) -> None:
    s["isvc"]["status"]["conditions"] = [
        {"type": "Ready", "status": "False", "reason": "MinimumReplicasUnavailable"}
    ]


def _no_deployment(s: dict[str, Any]) -> None:
    s["deployments"] = []


def _foreign_deployment(s: dict[str, Any]) -> None:
    s["deployments"][0]["metadata"]["ownerReferences"] = [{"uid": "someone-else"}]


def _headless(s: dict[str, Any]) -> None:
    s["services"][0]["spec"]["clusterIP"] = "None"


def _on_kwok(s: dict[str, Any]) -> None:
    s["pods"][0]["spec"]["nodeName"] = "kwok-0"


def _fewer_gpus(s: dict[str, Any]) -> None:
    s["pods"][0]["spec"]["containers"] = [_container("kserve-container", None)]


def _no_scaledobject(s: dict[str, Any]) -> None:
    s["scaledobjects"] = []


def _scales_other(s: dict[str, Any]) -> None:
    s["scaledobjects"][0]["spec"]["scaleTargetRef"]["name"] = "other"


def _pending(s: dict[str, Any]) -> None:
    s["pods"][0]["status"]["phase"] = "Pending"


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (_not_ready, "InferenceService llm is not Ready (MinimumReplicasUnavailable"),
        (_no_deployment, "no Deployment llm-predictor"),
        (_foreign_deployment, "Deployment llm-predictor is not owned by InferenceService llm"),
        (_headless, "Service llm-predictor has no ClusterIP"),
        (_on_kwok, "runs on kwok-0, a simulated node (its containers never run)"),
        (_fewer_gpus, "nvidia.com/gpu requests 0 but the manifest asks 1"),
        (_pending, "is Pending, not Running"),
        (_no_scaledobject, "no ScaledObject llm-predictor, though the manifest sets"),
        (_scales_other, "ScaledObject llm-predictor scales 'other', not Deployment"),
    ],
)
def test_inferenceservice_check_reports_each_break(breaks: Any, expected: str) -> None:
    state = copy.deepcopy(_isvc_state())
    breaks(state)
    failures = _assess_isvc(state)
    assert any(expected in f for f in failures), failures


# --- KubeRay ------------------------------------------------------------------------------

RAY_MANIFEST: Obj = {
    "kind": "RayService",
    "metadata": {"name": "rs"},
    "spec": {
        "rayClusterConfig": {
            "headGroupSpec": {"template": {"spec": {"containers": [_container("head", None)]}}},
            "workerGroupSpecs": [
                {
                    "groupName": "gpu-workers",
                    "replicas": 2,
                    "template": {"spec": {"containers": [_container("ray-worker", "1")]}},
                }
            ],
        }
    },
}


def _ray_pod(name: str, kind: str, container: Obj) -> Obj:
    labels = {"ray.io/cluster": "rs-x", "ray.io/node-type": kind}
    if kind == "worker":
        labels["ray.io/group"] = "gpu-workers"
    return {
        "metadata": _meta(name, labels=labels),
        "spec": {"nodeName": "kwok-0", "containers": [container]},
    }


def _ray_state() -> dict[str, Any]:
    return {
        "rayservice": {"metadata": _meta("rs", "rs-1")},
        "clusters": [{"metadata": _meta("rs-x", "rc-1", owner="rs-1")}],
        "services": [
            {"metadata": _meta("rs-x-head-svc", owner="rc-1", labels={"ray.io/node-type": "head"})}
        ],
        "pods": [
            _ray_pod("head", "head", _container("head", None)),
            _ray_pod("w1", "worker", _container("ray-worker", "1")),
            _ray_pod("w2", "worker", _container("ray-worker", "1")),
        ],
    }


def _assess_ray(state: dict[str, Any]) -> list[str]:
    return assess_rayservice(RAY_MANIFEST, **state)


def test_rayservice_check_passes_on_a_reconciled_state() -> None:
    assert _assess_ray(_ray_state()) == []


def _two_clusters(s: dict[str, Any]) -> None:
    s["clusters"].append({"metadata": _meta("rs-y", "rc-2", owner="rs-1")})


def _no_head_svc(s: dict[str, Any]) -> None:
    s["services"] = []


def _no_head(s: dict[str, Any]) -> None:
    s["pods"] = s["pods"][1:]


def _one_worker(s: dict[str, Any]) -> None:
    s["pods"] = s["pods"][:2]


def _worker_gpu(s: dict[str, Any]) -> None:
    s["pods"][2]["spec"]["containers"] = [_container("ray-worker", "2")]


def _unscheduled(s: dict[str, Any]) -> None:
    del s["pods"][1]["spec"]["nodeName"]


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (_two_clusters, "RayService rs owns 2 RayClusters, expected 1"),
        (_no_head_svc, "no head Service owned by RayCluster rs-x"),
        (_no_head, "RayCluster rs-x has 0 head pods, expected 1"),
        (_one_worker, "worker group gpu-workers: 1 pods, manifest asks 2"),
        (_worker_gpu, "pod w2 container ray-worker: nvidia.com/gpu requests 2 but the manifest"),
        (_unscheduled, "pod w1 is not scheduled"),
    ],
)
def test_rayservice_check_reports_each_break(breaks: Any, expected: str) -> None:
    state = copy.deepcopy(_ray_state())
    breaks(state)
    failures = _assess_ray(state)
    assert any(expected in f for f in failures), failures


# --- admission and storage ----------------------------------------------------------------


def test_accepted_check_names_the_refused_object() -> None:
    ok = Admission("RayService", "rs", "dry-run", True, 201)
    bad = Admission("InferenceService", "llm", "create", False, 422, "spec.x: Invalid value")
    assert assess_accepted([ok]) == []
    assert assess_accepted([ok, bad]) == [
        "InferenceService/llm refused on create: HTTP 422: spec.x: Invalid value"
    ]


def test_rejected_check_fails_when_broken_object_is_admitted_or_unnamed() -> None:
    field = "spec.predictor.minReplicas"
    refused = Admission("InferenceService", "llm", "dry-run", False, 422, f"{field}: Invalid")
    assert assess_rejected(refused, field) == []
    admitted = Admission("InferenceService", "llm", "dry-run", True, 201)
    assert "was accepted" in assess_rejected(admitted, field)[0]
    vague = Admission("InferenceService", "llm", "dry-run", False, 500, "internal error")
    got = assess_rejected(vague, field)
    assert any("HTTP 500" in g for g in got) and any("does not name" in g for g in got)


def test_stored_check_reports_pruned_and_rewritten_fields() -> None:
    manifest: Obj = {
        "kind": "RayService",
        "metadata": {"name": "rs"},
        "spec": {"a": {"nvidia.com/gpu": "1", "list": [{"x": 1}, {"y": True}]}, "b": "v"},
    }
    stored = copy.deepcopy(manifest)
    stored["spec"]["extra"] = "server default"
    assert assess_stored(manifest, stored) == []
    del stored["spec"]["a"]["list"][1]["y"]
    stored["spec"]["b"] = "w"
    assert assess_stored(manifest, stored) == [
        "RayService/rs: spec.a.list[1].y was dropped by the API server (not in the CRD schema)",
        "RayService/rs: spec.b stored as 'w', manifest has 'v'",
    ]


def test_predictor_pin_by_node_name_keeps_the_manifests_own_terms() -> None:
    from servegate.checks.operators.env import pin_predictor_to

    term = {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}
    isvc = {
        "kind": "InferenceService",
        "spec": {
            "predictor": {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [term]
                        }
                    }
                }
            }
        },
    }
    (out,) = pin_predictor_to([isvc], ("node-a",))
    req = out["spec"]["predictor"]["affinity"]["nodeAffinity"]
    (got,) = req["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert got["matchExpressions"] == term["matchExpressions"]
    assert got["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["node-a"]}]
    assert "matchFields" not in term, "the input is left alone"
    bare = {"kind": "InferenceService", "spec": {"predictor": {}}}
    (out2,) = pin_predictor_to([bare], ("n1", "n2"))
    affinity = out2["spec"]["predictor"]["affinity"]["nodeAffinity"]
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]}
    ]
