"""Each kustomize Component builds on a stand-in model server and validates clean.

Goldens only cover the components that some overlay uses; this covers all of them, and
checks that a component's patches really land on the model server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from manifest_units import ROOT

from servegate.k8s.render import render_unit
from servegate.k8s.validate import validate_objects

HARNESS = Path(__file__).parent / "component-harness"
COMPONENTS = sorted(p.parent for p in (ROOT / "components").rglob("kustomization.yaml"))


def build_with(component: Path, tmp_path: Path) -> list[dict[str, Any]]:
    (tmp_path / "workload.yaml").write_text((HARNESS / "workload.yaml").read_text())
    rel = os.path.relpath(component, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [workload.yaml]\ncomponents: [{rel}]\n"
    )
    return render_unit(tmp_path)


def test_components_are_found() -> None:
    names = {c.relative_to(ROOT / "components").as_posix() for c in COMPONENTS}
    assert {"policies", "monitoring", "secrets", "storage", "autoscaling/vpa"} <= names


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_component_is_a_component(component: Path) -> None:
    text = (component / "kustomization.yaml").read_text()
    assert "kind: Component" in text


@pytest.mark.parametrize(
    "component", COMPONENTS, ids=lambda c: c.relative_to(ROOT / "components").as_posix()
)
def test_component_builds_and_validates(component: Path, tmp_path: Path) -> None:
    objs = build_with(component, tmp_path)
    assert [str(p) for p in validate_objects(objs)] == []
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for o in objs:
        ref = o.get("spec", {}).get("scaleTargetRef") or o.get("spec", {}).get("targetRef")
        if ref:
            assert (ref["kind"], ref["name"]) in names, f"{o['kind']} targets a missing object"


def _pod(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = next(o for o in objs if o["kind"] == kind)["spec"]["template"]["spec"]
    return spec


def test_mig_replaces_the_whole_gpu(tmp_path: Path) -> None:
    objs = build_with(ROOT / "components/gpu-sharing/mig", tmp_path)
    for kind in ("StatefulSet", "Deployment"):
        req = _pod(objs, kind)["containers"][0]["resources"]["requests"]
        assert "nvidia.com/gpu" not in req
        assert req["nvidia.com/mig-1g.10gb"] == 1


def test_spot_keeps_the_gpu_toleration(tmp_path: Path) -> None:
    objs = build_with(ROOT / "components/placement/spot", tmp_path)
    keys = [t["key"] for t in _pod(objs, "Deployment")["tolerations"]]
    assert keys == ["nvidia.com/gpu", "karpenter.sh/capacity-type"]


def test_storage_swaps_emptydir_for_the_pvc(tmp_path: Path) -> None:
    objs = build_with(ROOT / "components/storage", tmp_path)
    vol = _pod(objs, "Deployment")["volumes"][0]
    assert vol == {"name": "model-cache", "persistentVolumeClaim": {"claimName": "model-cache"}}


def test_networkpolicy_keeps_dns_egress(tmp_path: Path) -> None:
    objs = build_with(ROOT / "components/policies", tmp_path)
    pol = next(o for o in objs if o["kind"] == "NetworkPolicy")["spec"]
    assert "Egress" in pol["policyTypes"]
    dns_ports = [
        p["port"] for rule in pol["egress"] for p in rule.get("ports", []) if p["port"] == 53
    ]
    assert sorted(dns_ports) == [53, 53]


def test_vpa_never_controls_gpus(tmp_path: Path) -> None:
    objs = build_with(ROOT / "components/autoscaling/vpa", tmp_path)
    vpa = next(o for o in objs if o["kind"] == "VerticalPodAutoscaler")
    for policy in vpa["spec"]["resourcePolicy"]["containerPolicies"]:
        assert policy["controlledResources"] == ["cpu", "memory"]
        for bound in ("minAllowed", "maxAllowed"):
            assert not any(k.startswith("nvidia.com/") for k in policy[bound])
