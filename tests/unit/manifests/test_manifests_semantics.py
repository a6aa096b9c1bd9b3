"""What schemas cannot see: references between objects, image pins, sim/gpu parity.

These are the seed's classes of mistakes (an HPA aimed at a Deployment that is really a
StatefulSet, a serviceName with no Service, :latest tags), checked on every golden render.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from manifest_units import golden_cases, rendered

Obj = dict[str, Any]


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def pod_specs(obj: Obj) -> list[Obj]:
    """Every pod-spec-like mapping in an object (workloads, KServe predictors, Ray groups)."""
    return [n for _, n in walk(obj) if isinstance(n, dict) and "containers" in n]


def images(obj: Obj) -> list[str]:
    return [n["image"] for spec in pod_specs(obj) for n in spec["containers"]]


def index(objs: list[Obj]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objs}


def cases(kind: str | None = None) -> list[Path]:
    targets = [t for _, t in golden_cases()]
    return [t for t in targets if kind is None or t.name == kind]


@pytest.mark.parametrize("target", cases(), ids=lambda t: f"{t.parent.parent.name}/{t.name}")
def test_scale_targets_exist(target: Path) -> None:
    objs = rendered(target)
    have = index(objs)
    refs = []
    for o in objs:
        spec = o.get("spec", {})
        ref = spec.get("scaleTargetRef") or spec.get("targetRef")
        if ref is not None and o["kind"] != "PodDisruptionBudget":
            refs.append(
                (o["kind"], o["metadata"]["name"], ref.get("kind", "Deployment"), ref["name"])
            )
    missing = [r for r in refs if (r[2], r[3]) not in have]
    assert missing == []


@pytest.mark.parametrize("target", cases(), ids=lambda t: f"{t.parent.parent.name}/{t.name}")
def test_services_and_claims_resolve(target: Path) -> None:
    objs = rendered(target)
    have = index(objs)
    template_labels = [
        o["spec"]["template"]["metadata"]["labels"]
        for o in objs
        if o["kind"] in ("Deployment", "StatefulSet")
    ]
    problems = []
    for o in objs:
        name, spec = o["metadata"]["name"], o.get("spec", {})
        if o["kind"] == "StatefulSet":
            svc = spec["serviceName"]
            if ("Service", svc) not in have:
                problems.append(f"StatefulSet/{name}: serviceName {svc} has no Service")
            templates = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        else:
            templates = set()
        if o["kind"] == "Service" and template_labels:
            sel = spec.get("selector", {})
            if not any(sel.items() <= labels.items() for labels in template_labels):
                problems.append(f"Service/{name}: selector {sel} matches no pod template")
        for _, node in walk(o):
            if isinstance(node, dict) and "persistentVolumeClaim" in node:
                claim = node["persistentVolumeClaim"]["claimName"]
                if ("PersistentVolumeClaim", claim) not in have and claim not in templates:
                    problems.append(f"{o['kind']}/{name}: claim {claim} does not exist")
        if o["kind"] == "Ingress":
            for rule in spec.get("rules", []):
                for p in rule["http"]["paths"]:
                    backend = p["backend"]["service"]["name"]
                    if ("Service", backend) not in have:
                        problems.append(f"Ingress/{name}: backend {backend} has no Service")
    assert problems == []


@pytest.mark.parametrize("target", cases(), ids=lambda t: f"{t.parent.parent.name}/{t.name}")
def test_images_are_pinned(target: Path) -> None:
    bad = []
    for o in rendered(target):
        for image in images(o):
            name = image.rsplit("/", 1)[-1]
            if ":" not in name or name.endswith(":latest"):
                bad.append(image)
    assert bad == []


def _gpu_shape(objs: list[Obj]) -> dict[tuple[str, str], Any]:
    """Per object: GPU requests/limits and every placement rule, wherever they appear."""
    shape: dict[tuple[str, str], Any] = {}
    for o in objs:
        found = []
        for path, node in walk(o):
            leaf = path.rsplit(".", 1)[-1]
            if leaf in ("affinity", "tolerations", "nodeSelector", "priorityClassName"):
                found.append((leaf, repr(node)))
            if leaf in ("requests", "limits") and isinstance(node, dict):
                gpus = {k: v for k, v in node.items() if k.startswith("nvidia.com/")}
                found.append((leaf, repr(sorted(gpus.items()))))
        if found:
            shape[(o["kind"], o["metadata"]["name"])] = sorted(found)
    return shape


@pytest.mark.parametrize("target", cases("sim"), ids=lambda t: t.parent.parent.name)
def test_sim_keeps_gpu_requests_and_placement(target: Path) -> None:
    gpu = target.parent / "gpu"
    sim_shape = _gpu_shape(rendered(target))
    assert any("nvidia.com/gpu" in repr(v) for v in sim_shape.values())
    assert sim_shape == _gpu_shape(rendered(gpu))


@pytest.mark.parametrize("target", cases("sim"), ids=lambda t: t.parent.parent.name)
def test_sim_uses_simulator_image_only(target: Path) -> None:
    # The exact image the embedded local cluster builds and imports into containerd.
    from servegate.cluster.node.images import RAY, SIM

    imgs = [i for o in rendered(target) for i in images(o)]
    assert imgs
    # ray-serve's pods must run Ray: servegate's Ray image, which carries the simulator
    assert set(imgs) == ({RAY} if target.parent.parent.name == "ray-serve" else {SIM})


@pytest.mark.parametrize("target", cases("gpu"), ids=lambda t: t.parent.parent.name)
def test_model_servers_carry_the_role_label(target: Path) -> None:
    labelled = [
        spec
        for o in rendered(target)
        for _, spec in walk(o)
        if isinstance(spec, dict)
        and spec.get("labels", {}).get("servegate.io/role") == "model-server"
    ]
    assert labelled, f"{target}: no object labelled servegate.io/role=model-server"


@pytest.mark.parametrize("target", cases(), ids=lambda t: f"{t.parent.parent.name}/{t.name}")
def test_part_of_label_everywhere(target: Path) -> None:
    unlabelled = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in rendered(target)
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") != "servegate"
    ]
    assert unlabelled == []
