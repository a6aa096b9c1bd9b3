"""Render and validation speed of the reference manifests; prints figures, asserts nothing.

    .venv/bin/python bench/render_bench.py [--runs 5]

1. render: ``kubectl kustomize`` of every overlay; baseline in the same run: ``kubectl version
   --client`` (the process start every render pays). Median and min..max per run of all units.
2. validate: schema loading (first call, in a fresh process) and warm validation of all
   rendered objects. Median and min..max.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from servegate.k8s.render import kubectl_binary, parse_objects, render_yaml  # noqa: E402
from servegate.paths import manifests_root  # noqa: E402

COLD = (
    "import time; from servegate.k8s.validate import validate_objects; t = time.perf_counter(); "
    "validate_objects([]); print(time.perf_counter() - t)"
)


def targets() -> list[Path]:
    root = manifests_root()
    overlays = sorted(d for d in root.glob("*/overlays/*") if not d.name.startswith("_"))
    return [*overlays, root / "cluster-addons"]


def fmt(xs: list[float], unit: str = "s") -> str:
    med = statistics.median(xs)
    return f"median {med:.3f} {unit} (min {min(xs):.3f}, max {max(xs):.3f}, n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    units = targets()
    kubectl = str(kubectl_binary())

    base, render, objs_count = [], [], 0
    for _ in range(runs):
        t = time.perf_counter()
        for _u in units:
            subprocess.run([kubectl, "version", "--client"], capture_output=True, check=True)
        base.append(time.perf_counter() - t)
        t = time.perf_counter()
        texts = [render_yaml(u) for u in units]
        render.append(time.perf_counter() - t)
    objs = [o for u, text in zip(units, texts, strict=True) for o in parse_objects(text, str(u))]
    objs_count = len(objs)
    print(f"render {len(units)} units ({objs_count} objects): {fmt(render)}")
    print(f"  baseline, {len(units)} x 'kubectl version --client': {fmt(base)}")

    cold = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", COLD], capture_output=True, text=True, check=True, cwd=ROOT
        )
        cold.append(float(out.stdout))
    from servegate.k8s.validate import validate_objects

    validate_objects([])
    warm = []
    for _ in range(runs):
        t = time.perf_counter()
        problems = validate_objects(objs)
        warm.append(time.perf_counter() - t)
    print(f"validate: schema load (cold, fresh process): {fmt(cold)}")
    print(f"validate: {objs_count} objects (warm): {fmt(warm)}; problems: {len(problems)}")


if __name__ == "__main__":
    main()
