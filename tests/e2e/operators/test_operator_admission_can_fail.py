"""The admission check of suites/conformance/operators, shown able to fail against the real
API server: a deliberately broken copy of each reference object (a wrongly typed field, a
misspelt field that a pruning server would silently drop) is refused on server-side dry-run,
assess_accepted reports it, and the refusal names the broken field. The unbroken object is
accepted in the same namespace, so the failure is due to the break and nothing else.
(The reconcile checks are shown able to fail in tests/unit/operators.)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from servegate.checks.operators.checks import assess_accepted, assess_rejected
from servegate.checks.operators.env import (
    KSERVE_UNIT,
    RAY_UNIT,
    admit,
    custom_objects,
    empty_namespace,
)
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.k8s.render import render_unit, resolve_unit

pytestmark = [pytest.mark.e2e]

Obj = dict[str, Any]


def _isvc_min_replicas(o: Obj) -> None:
    o["spec"]["predictor"]["minReplicas"] = "many"


def _isvc_typo(o: Obj) -> None:
    o["spec"]["predictor"]["nodeSelectr"] = {"a": "b"}


def _ray_replicas(o: Obj) -> None:
    o["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] = "two"


def _ray_typo(o: Obj) -> None:
    o["spec"]["rayClusterConfig"]["headGroupSpec"]["rayStartParam"] = {}


CASES = [
    pytest.param(KSERVE_UNIT, _isvc_min_replicas, "spec.predictor.minReplicas", id="isvc-type"),
    pytest.param(KSERVE_UNIT, _isvc_typo, "spec.predictor.nodeSelectr", id="isvc-unknown"),
    pytest.param(
        RAY_UNIT,
        _ray_replicas,
        "spec.rayClusterConfig.workerGroupSpecs[0].replicas",
        id="ray-type",
    ),
    pytest.param(
        RAY_UNIT,
        _ray_typo,
        "spec.rayClusterConfig.headGroupSpec.rayStartParam",
        id="ray-unknown",
    ),
]


@pytest.mark.parametrize(("unit", "breaks", "field"), CASES)
def test_broken_reference_object_is_refused_naming_the_field(
    unit: str,
    breaks: Callable[[Obj], None],
    field: str,
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
) -> None:
    good = custom_objects(render_unit(resolve_unit(unit, "sim")))[-1]
    bad = copy.deepcopy(good)
    breaks(bad)
    with empty_namespace(deploy_unit, unit, "sim") as dep:
        unbroken = admit(sg_cluster, dep.namespace, good, dry_run=True)
        broken = admit(sg_cluster, dep.namespace, bad, dry_run=True)
    assert assess_accepted([unbroken]) == [], unbroken.message
    failures = assess_accepted([broken])
    assert len(failures) == 1 and f"{bad['kind']}/{bad['metadata']['name']}" in failures[0]
    assert assess_rejected(broken, field) == [], broken.message
