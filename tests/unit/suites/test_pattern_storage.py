"""On a cluster servegate did not make, a StatefulSet's claims need a storage class that can
provide them; without one the pattern check says so before deploying (it once waited 600 s
for pods Pending on an unbound claim)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from servegate.checks.patterns.storage import unprovided_claims
from servegate.k8s.render import render_unit
from servegate.paths import manifests_root


def _handle(classes: list[dict[str, Any]] | None) -> Any:
    def listing() -> Any:
        if classes is None:
            raise PermissionError("forbidden")
        return SimpleNamespace(to_dict=lambda: {"items": classes})

    resources = SimpleNamespace(get=lambda **_kw: SimpleNamespace(get=listing))
    return SimpleNamespace(client=SimpleNamespace(dynamic=SimpleNamespace(resources=resources)))


def _sc(name: str, default: bool = False) -> dict[str, Any]:
    ann = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": ann}}


def test_the_reference_statefulset_needs_a_default_class() -> None:
    objects = render_unit(manifests_root() / "vllm-statefulset" / "overlays" / "sim")
    reason = unprovided_claims(_handle([_sc("fast")]), objects)
    assert reason is not None and "no default StorageClass" in reason
    assert unprovided_claims(_handle([_sc("fast"), _sc("standard", default=True)]), objects) is None
    assert unprovided_claims(_handle(None), objects) is None  # cannot list: not judged


def test_a_named_class_must_exist_and_units_without_claims_pass() -> None:
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {
            "replicas": 1,
            "volumeClaimTemplates": [
                {"metadata": {"name": "c"}, "spec": {"storageClassName": "gold"}}
            ],
        },
    }
    reason = unprovided_claims(_handle([_sc("standard", default=True)]), [sts])
    assert reason is not None and "'gold'" in reason and "c-s-0" in reason
    assert unprovided_claims(_handle([_sc("gold")]), [sts]) is None
    assert unprovided_claims(_handle([]), [{"kind": "Deployment"}]) is None
