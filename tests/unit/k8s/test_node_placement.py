"""Whether a workload's placement admits a node, read as the scheduler reads nodeSelector and
required node affinity. On a cluster servegate did not make, a pattern whose GPU product no
node that runs containers has now says so before deploying (it once waited 600 s with its
pod Pending: the stand-in's real node is an A100 40GB, the reference asks for 80GB or H100)."""

from __future__ import annotations

from typing import Any

from servegate.k8s.nodes import admits, unplaceable
from servegate.k8s.render import render_unit
from servegate.paths import manifests_root


def _node(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def _spec(*terms: dict[str, Any], selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeSelector": selector or {}}
    if terms:
        req = {"nodeSelectorTerms": list(terms)}
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": req}}
    return spec


def _e(key: str, op: str, *values: str) -> dict[str, Any]:
    return (
        {"key": key, "operator": op, "values": list(values)}
        if values
        else {"key": key, "operator": op}
    )


def test_expressions_terms_and_selectors() -> None:
    n = _node("n1", product="A100-40GB", count="4", zone="a")
    assert admits(_spec(), n)
    assert admits(_spec({"matchExpressions": [_e("product", "In", "A100-40GB", "H100")]}), n)
    assert not admits(_spec({"matchExpressions": [_e("product", "In", "H100")]}), n)
    assert admits(_spec({"matchExpressions": [_e("product", "NotIn", "H100")]}), n)
    assert admits(_spec({"matchExpressions": [_e("zone", "Exists")]}), n)
    assert not admits(_spec({"matchExpressions": [_e("spot", "Exists")]}), n)
    assert admits(_spec({"matchExpressions": [_e("spot", "DoesNotExist")]}), n)
    assert admits(_spec({"matchExpressions": [_e("count", "Gt", "2")]}), n)
    assert not admits(_spec({"matchExpressions": [_e("count", "Lt", "2")]}), n)
    # terms are ORed, expressions within a term ANDed; an empty term matches nothing
    both = [_e("product", "In", "H100"), _e("zone", "In", "a")]
    assert not admits(_spec({"matchExpressions": both}), n)
    assert admits(
        _spec({"matchExpressions": both}, {"matchExpressions": [_e("zone", "In", "a")]}), n
    )
    assert not admits(_spec({}), n)
    assert admits(_spec({"matchFields": [_e("metadata.name", "In", "n1")]}), n)
    assert not admits(_spec({"matchFields": [_e("metadata.name", "In", "n2")]}), n)
    assert not admits(_spec(selector={"zone": "b"}), n)


def test_the_reference_statefulset_on_a_40gb_a100_node_is_unplaceable() -> None:
    objects = render_unit(manifests_root() / "vllm-statefulset" / "overlays" / "sim")
    small = _node("servegate-node-0", **{"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"})
    reason = unplaceable(objects, [small])
    assert (
        reason is not None
        and "servegate-node-0" in reason
        and "nvidia.com/gpu.product In" in reason
    )
    big = _node("gpu-1", **{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})
    assert unplaceable(objects, [small, big]) is None
    assert unplaceable([{"kind": "Service"}], []) is None
