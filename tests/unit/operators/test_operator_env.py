"""The operator checks' cluster-free helpers: waiting for a check to pass, pod placement, the
ledger's outcome rows and the summaries the section shows."""

from __future__ import annotations

from typing import Any

import pytest

from servegate.checks.operators import kuberay
from servegate.checks.operators.checks import Obj
from servegate.checks.operators.env import KWOK_NODES, OperatorCheck, kwok_pinned, until_passes
from servegate.checks.operators.ledger import OperatorLedger
from servegate.errors import UserError


class Sink:
    def __init__(self) -> None:
        self.markdown = ""

    def section(self, name: str, title: str, markdown: str, data: dict[str, Any]) -> None:
        self.markdown = markdown


def test_until_passes_returns_at_the_first_pass_or_the_last_failures() -> None:
    looks = iter([["not Ready"], ["no pod"], []])
    assert until_passes(lambda: next(looks), 5.0, 0.01) == []
    assert until_passes(lambda: ["still not Ready"], 0.05, 0.01) == ["still not Ready"]


def test_kwok_pinned_places_predictor_head_and_workers_and_leaves_the_input() -> None:
    isvc: Obj = {"kind": "InferenceService", "spec": {"predictor": {}}}
    ray: Obj = {
        "kind": "RayService",
        "spec": {
            "rayClusterConfig": {
                "headGroupSpec": {"template": {"spec": {}}},
                "workerGroupSpecs": [{"template": {"spec": {"nodeSelector": {"a": "b"}}}}],
            }
        },
    }
    out = kwok_pinned([isvc, ray, {"kind": "Service"}])
    assert out[0]["spec"]["predictor"]["nodeSelector"] == KWOK_NODES
    cfg = out[1]["spec"]["rayClusterConfig"]
    assert cfg["headGroupSpec"]["template"]["spec"]["nodeSelector"] == KWOK_NODES
    assert cfg["workerGroupSpecs"][0]["template"]["spec"]["nodeSelector"] == {
        "a": "b",
        **KWOK_NODES,
    }
    assert out[2] == {"kind": "Service"} and isvc["spec"]["predictor"] == {}


def test_outcome_records_the_first_failures_or_the_passed_detail() -> None:
    sink = Sink()
    ledger = OperatorLedger(sink)
    ledger.outcome("kserve", "reconciled", [f"f{i}" for i in range(6)], "fine")
    assert "| reconciled | failed | f0; f1; f2; f3 |" in sink.markdown
    ledger.outcome("kserve", "schema", ["a", "b", "c", "d", "e"], "fine", most=None)
    assert "| schema | failed | a; b; c; d; e |" in sink.markdown
    ledger.outcome("kserve", "schema", [], "all stored", status="accepted only")
    assert "| schema | accepted only | all stored |" in sink.markdown


def test_stop_on_records_the_failure_and_fails_the_test_in_one_message() -> None:
    sink = Sink()
    check = OperatorCheck(None, None, OperatorLedger(sink), None)  # type: ignore[arg-type]
    check.stop_on("kserve", "benchmark", [])
    with pytest.raises(UserError) as raised:
        check.stop_on("kserve", "benchmark", ["not Ready", "no pod"])
    assert str(raised.value) == "not Ready\nno pod"
    assert "| benchmark | failed | not Ready; no pod |" in sink.markdown


def test_kuberay_summary_counts_workers_and_shows_the_rayservice_status() -> None:
    seen = {
        "rayservice": {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        "pods": [
            {"metadata": {"labels": {"ray.io/node-type": "head"}}},
            {"metadata": {"labels": {"ray.io/node-type": "worker"}}},
            {"metadata": {"labels": {"ray.io/node-type": "worker"}}},
        ],
    }
    text = kuberay.summary(seen)
    assert "1 head pod, 2 GPU worker pods" in text
    assert text.endswith("RayService status: Ready=False (None)")
    assert kuberay.serve_status({}) == "no status"


def test_ray_pods_pinned_by_node_name_keep_their_own_placement() -> None:
    """The shipped ray-serve sim render: head and worker pods require the named nodes, and
    keep every node selector and affinity term the manifest already had (no local label)."""
    from servegate.checks.operators.env import RAY_UNIT, pin_ray_pods_to
    from servegate.k8s.render import render_unit
    from servegate.paths import manifests_root

    objects = render_unit(manifests_root() / RAY_UNIT / "overlays" / "sim")
    before = [o for o in objects if o.get("kind") == "RayService"]
    assert before, "the ray-serve sim overlay has no RayService"
    out = pin_ray_pods_to(objects, ("node-a",))
    (ray,) = [o for o in out if o.get("kind") == "RayService"]
    cfg, old = ray["spec"]["rayClusterConfig"], before[0]["spec"]["rayClusterConfig"]
    pin = {"key": "metadata.name", "operator": "In", "values": ["node-a"]}
    groups = [cfg["headGroupSpec"], *cfg["workerGroupSpecs"]]
    olds = [old["headGroupSpec"], *old["workerGroupSpecs"]]
    assert len(groups) >= 2
    for g, o in zip(groups, olds, strict=True):
        spec, was = g["template"]["spec"], o["template"]["spec"]
        assert spec.get("nodeSelector") == was.get("nodeSelector")
        assert "servegate.io/node" not in (spec.get("nodeSelector") or {})
        req = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert req["nodeSelectorTerms"] and all(
            pin in t["matchFields"] for t in req["nodeSelectorTerms"]
        )
        assert "matchFields" not in str(was), "the input is left alone"
