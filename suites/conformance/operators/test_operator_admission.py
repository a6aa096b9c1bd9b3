"""The KServe and Ray Serve reference objects are accepted by the API server as written.

Runs with or without the controllers. Setup: render each unit's overlays (gpu and sim).
Assess: (1) server-side dry-run of every custom resource with strict field validation (an
unknown or misplaced field is refused, not silently pruned); (2) a real create of the sim
overlay into a fresh namespace, then every field of the stored spec compared with the
manifest (nothing dropped by the CRD's structural schema). Pods a running controller may make
from the real create are pinned to kwok nodes. Teardown: namespaces deleted.
"""

from __future__ import annotations

import pytest

from servegate.checks.operators.checks import assess_accepted, assess_stored
from servegate.checks.operators.env import (
    KSERVE_UNIT,
    RAY_UNIT,
    OperatorCheck,
    admit,
    custom_objects,
    empty_namespace,
    get_custom,
    kwok_pinned,
    save,
)
from servegate.k8s.render import render_unit, resolve_unit

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]

UNITS = [
    pytest.param(KSERVE_UNIT, "kserve", marks=pytest.mark.kserve, id="kserve"),
    pytest.param(RAY_UNIT, "ray-serve", marks=pytest.mark.ray_serve, id="ray-serve"),
]


@pytest.mark.parametrize(("unit", "pattern"), UNITS)
@pytest.mark.parametrize("overlay", ["gpu", "sim"])
def test_reference_objects_pass_server_side_dry_run(
    unit: str, pattern: str, overlay: str, operator_check: OperatorCheck
) -> None:
    objects = custom_objects(render_unit(resolve_unit(unit, overlay)))
    assert objects, f"{unit}/{overlay} renders no custom resource"
    with empty_namespace(operator_check.deploy_unit, unit, overlay) as dep:
        outcomes = [admit(operator_check.cluster, dep.namespace, o, dry_run=True) for o in objects]
    failures = assess_accepted(outcomes)
    kinds = ", ".join(f"{o.kind}/{o.name}" for o in outcomes)
    operator_check.ledger.outcome(
        pattern,
        f"CRD schema, {overlay} overlay (dry-run, strict)",
        failures,
        f"{kinds} accepted",
        status="accepted only",
        most=None,
    )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("unit", "pattern"), UNITS)
def test_reference_objects_are_stored_as_written(
    unit: str, pattern: str, operator_check: OperatorCheck
) -> None:
    with operator_check.deploy_sim(unit, kwok_pinned) as dep:
        failures: list[str] = []
        stored = []
        for manifest in custom_objects(dep.objects):
            name = manifest["metadata"]["name"]
            got = get_custom(operator_check.cluster, manifest["kind"], dep.namespace, name)
            stored.append(got)
            failures += assess_stored(manifest, got)
        save(operator_check.out_dir, "stored", stored)
    operator_check.ledger.outcome(
        pattern,
        "CRD schema, sim overlay (created, read back)",
        failures,
        "every manifest field stored unchanged",
        status="accepted only",
        most=None,
    )
    assert not failures, "\n".join(failures)
