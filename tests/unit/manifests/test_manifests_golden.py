"""Every reference unit renders, matches its golden output, and validates clean.

Refresh the goldens after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/manifests``.
"""

from __future__ import annotations

import os
from pathlib import Path

from manifest_units import ROOT, golden_cases, rendered, rendered_text

from servegate.k8s.validate import validate_objects


def test_units_are_found() -> None:
    names = {g.parent.parent.name for g, _ in golden_cases()}
    patterns = {
        "vllm-statefulset",
        "vllm-deployment",
        "kserve-inferenceservice",
        "ray-serve",
        "rag-system",
    }
    assert patterns <= names


def test_render_matches_golden(golden_case: tuple[Path, Path]) -> None:
    golden, target = golden_case
    assert target.is_dir(), f"{golden} has no overlay {target} to render (stale golden?)"
    fresh = rendered_text(target)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(fresh)
    assert golden.is_file(), f"{target} has no golden {golden}: run with UPDATE_GOLDEN=1"
    assert fresh == golden.read_text(), (
        f"{target} renders differently from {golden}; "
        "if intended, refresh with UPDATE_GOLDEN=1 and review the diff"
    )


def test_render_validates_clean(golden_case: tuple[Path, Path]) -> None:
    _, target = golden_case
    problems = validate_objects(rendered(target))
    assert [str(p) for p in problems] == []


def test_every_overlay_has_a_golden() -> None:
    overlays = [d for d in ROOT.glob("*/overlays/*") if not d.name.startswith("_")]
    assert overlays, "no overlays found"
    missing = [d for d in overlays if not (d.parent.parent / "golden" / f"{d.name}.yaml").is_file()]
    assert missing == []


def test_patterns_have_base_sim_gpu_and_readme() -> None:
    for golden, _ in golden_cases():
        unit = golden.parent.parent
        assert (unit / "README.md").is_file(), f"{unit} has no README.md"
        if (unit / "overlays").is_dir():
            for part in ("base", "overlays/gpu", "overlays/sim"):
                assert (unit / part / "kustomization.yaml").is_file(), f"{unit}/{part}"
