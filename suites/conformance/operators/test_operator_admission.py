"""The KServe and Ray Serve reference objects are accepted by the API server as written.

Runs with or without the controllers. Setup: render each unit's overlays (gpu and sim).
Assess: (1) server-side dry-run of every custom resource with strict field validation (an
unknown or misplaced field is refused, not silently pruned); (2) a real create of the sim
overlay into a fresh namespace, then every field of the stored spec compared with the
manifest (nothing dropped by the CRD's structural schema). Pods a running controller may make
from the real create are pinned to kwok nodes. Teardown: namespaces deleted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from operators_checks import assess_accepted, assess_stored
from operators_env import (
    KSERVE_UNIT,
    KWOK_NODES,
    RAY_UNIT,
    admit,
    custom_objects,
    get_custom,
    pin_predictor,
    pin_ray_pods,
    save,
)
from operators_ledger import OperatorLedger

from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.k8s.render import render_unit, resolve_unit

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]

UNITS = [
    pytest.param(KSERVE_UNIT, "kserve", marks=pytest.mark.kserve, id="kserve"),
    pytest.param(RAY_UNIT, "ray-serve", marks=pytest.mark.ray_serve, id="ray-serve"),
]


def _kwok_pinned(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return pin_ray_pods(pin_predictor(objects, KWOK_NODES), KWOK_NODES)


@pytest.mark.parametrize(("unit", "pattern"), UNITS)
@pytest.mark.parametrize("overlay", ["gpu", "sim"])
def test_reference_objects_pass_server_side_dry_run(
    unit: str,
    pattern: str,
    overlay: str,
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    operator_ledger: OperatorLedger,
) -> None:
    objects = custom_objects(render_unit(resolve_unit(unit, overlay)))
    assert objects, f"{unit}/{overlay} renders no custom resource"
    # An empty unit gives a run-owned namespace to dry-run into.
    with deploy_unit(
        unit, overlay=overlay, wait=False, runs_containers=False, mutate=lambda _objs: []
    ) as dep:
        outcomes = [admit(sg_cluster, dep.namespace, o, dry_run=True) for o in objects]
    failures = assess_accepted(outcomes)
    kinds = ", ".join(f"{o.kind}/{o.name}" for o in outcomes)
    operator_ledger.record(
        pattern,
        f"CRD schema, {overlay} overlay (dry-run, strict)",
        "failed" if failures else "accepted only",
        "; ".join(failures) or f"{kinds} accepted",
    )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("unit", "pattern"), UNITS)
def test_reference_objects_are_stored_as_written(
    unit: str,
    pattern: str,
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    operator_ledger: OperatorLedger,
    sg_test_dir: Path,
) -> None:
    with deploy_unit(
        unit, overlay="sim", wait=False, runs_containers=False, mutate=_kwok_pinned
    ) as dep:
        failures: list[str] = []
        stored = []
        for manifest in custom_objects(dep.objects):
            got = get_custom(
                sg_cluster, manifest["kind"], dep.namespace, manifest["metadata"]["name"]
            )
            stored.append(got)
            failures += assess_stored(manifest, got)
        save(sg_test_dir, "stored", stored)
    operator_ledger.record(
        pattern,
        "CRD schema, sim overlay (created, read back)",
        "failed" if failures else "accepted only",
        "; ".join(failures) or "every manifest field stored unchanged",
    )
    assert not failures, "\n".join(failures)
