"""The reference manifests pass servegate's own static GenAI-serving checks.

Every deployable kustomize unit under manifests/ (each pattern's overlays, and top-level
units such as cluster-addons) is rendered and linted on its own; any finding, at any
severity, fails. ``base/`` and ``overlays/_*`` directories are building blocks that are
not deployed alone; they are covered by the whole-tree check, ``servegate lint manifests/``
as a user runs it, which must be clean too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.lint import lint_paths
from servegate.paths import manifests_root

pytestmark = pytest.mark.static


def deployable_units(root: Path) -> list[Path]:
    units = []
    for kfile in sorted(root.rglob("kustomization.yaml")):
        unit = kfile.parent
        rel = unit.relative_to(root).parts
        if rel[0] in ("components", "crds") or "base" in rel:
            continue
        if any(part.startswith("_") for part in rel):
            continue
        if "kind: Component" in kfile.read_text(encoding="utf-8"):
            continue
        units.append(unit)
    return units


UNITS = deployable_units(manifests_root())


def test_every_pattern_has_gpu_and_sim_overlays_to_lint() -> None:
    linted = {u.relative_to(manifests_root()).as_posix() for u in UNITS}
    patterns = [p.parent.name for p in manifests_root().glob("*/overlays")]
    assert patterns, "no manifest patterns found"
    for pattern in patterns:
        assert {f"{pattern}/overlays/gpu", f"{pattern}/overlays/sim"} <= linted


@pytest.mark.parametrize(
    "unit", UNITS, ids=[u.relative_to(manifests_root()).as_posix() for u in UNITS]
)
def test_unit_lints_clean(unit: Path) -> None:
    result = lint_paths([str(unit)])
    assert result.errors == []
    assert result.objects > 0
    problems = [
        f"{f.file}:{f.line}: {f.rule_id} {f.object_ref}: {f.message}" for f in result.findings
    ]
    assert problems == []


def test_whole_manifests_tree_lints_clean() -> None:
    """What the README promises: ``servegate lint manifests/`` reports nothing."""
    result = lint_paths([str(manifests_root())])
    assert result.errors == []
    problems = [
        f"{f.file}:{f.line}: {f.rule_id} {f.object_ref}: {f.message}" for f in result.findings
    ]
    assert problems == []
