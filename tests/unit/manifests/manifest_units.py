"""Discovery of the reference manifest units and a cache of their renders.

A unit is any directory under manifests/ with a golden/ folder; golden/<name>.yaml is the
expected render of overlays/<name>, or of the unit itself when <name> is "default".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from servegate.k8s.render import parse_objects, render_yaml
from servegate.paths import manifests_root

ROOT = manifests_root()


def golden_cases() -> list[tuple[Path, Path]]:
    """(golden file, directory to render): every overlay, and every golden file found.

    Overlays without a golden yet are included (the golden test fails, or writes it under
    UPDATE_GOLDEN=1); so are goldens without an overlay (the test fails: stale golden).
    """
    cases = set()
    for overlay in ROOT.glob("*/overlays/*"):
        if overlay.is_dir() and not overlay.name.startswith("_"):
            cases.add((overlay.parent.parent / "golden" / f"{overlay.name}.yaml", overlay))
    for golden in ROOT.glob("*/golden/*.yaml"):
        unit = golden.parent.parent
        target = unit if golden.stem == "default" else unit / "overlays" / golden.stem
        cases.add((golden, target))
    return sorted(cases)


def case_id(case: tuple[Path, Path]) -> str:
    golden, _ = case
    return f"{golden.parent.parent.name}/{golden.stem}"


_CACHE: dict[Path, str] = {}


def rendered_text(target: Path) -> str:
    if target not in _CACHE:
        _CACHE[target] = render_yaml(target)
    return _CACHE[target]


def rendered(target: Path) -> list[dict[str, Any]]:
    return parse_objects(rendered_text(target), str(target))
