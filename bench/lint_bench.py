"""Speed of ``servegate lint`` on the seed manifests and the broken-manifest corpus, and end to
end on the real-world corpus.

    .venv/bin/python bench/lint_bench.py [--runs 7]

Prints figures, asserts nothing. Baseline in the same run: parsing the same files with
PyYAML's libyaml loader (what any YAML-reading linter pays). Then: loading with field line
numbers, running every rule except SG504, and SG504 alone (schema validation, delegated to
servegate.k8s.validate; warm, its schemas already loaded). Last, the command a user runs,
``servegate lint tests/unit/lint/realworld --advice`` (a new process each time: start-up,
imports, schemas), beside ``servegate --version`` (start-up and imports alone) in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

from servegate.lint import REGISTRY, lint_sets  # noqa: E402
from servegate.lint.loader import load_paths  # noqa: E402

INPUTS = [ROOT / "tests/unit/lint/seed", ROOT / "tests/unit/lint/corpus"]
REALWORLD = ROOT / "tests/unit/lint/realworld"
SERVEGATE = [sys.executable, "-m", "servegate"]
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm caches (API tables, schemas)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def fmt(xs: list[float], per: int = 0) -> str:
    """Median and spread; per object too when ``per`` objects were processed."""
    med = statistics.median(xs)
    text = (
        f"median {med * 1e3:8.2f} ms (min {min(xs) * 1e3:.2f}, max {max(xs) * 1e3:.2f}, "
        f"n={len(xs)})"
    )
    return text + (f" = {med / per * 1e6:7.1f} us/object" if per else "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    files = sorted(p for d in INPUTS for p in d.glob("*.yaml"))
    texts = [p.read_text() for p in files]
    loaded = load_paths([str(d) for d in INPUTS])
    n = loaded.object_count
    print(f"{len(files)} files, {n} objects, {len(list(REGISTRY))} rules")
    baseline = timed(lambda: [list(yaml.load_all(t, Loader=LOADER)) for t in texts], runs)
    print(f"baseline yaml parse        {fmt(baseline, n)}")
    load = timed(lambda: load_paths([str(d) for d in INPUTS]), runs)
    print(f"load with line numbers     {fmt(load, n)}")
    rules = timed(lambda: lint_sets(loaded.sets, disable=["SG504"]), runs)
    print(f"rules (all but SG504)      {fmt(rules, n)}")
    others = [r.id for r in REGISTRY if r.id != "SG504"]
    schema = timed(lambda: lint_sets(loaded.sets, disable=others), runs)
    print(f"SG504 schema validation    {fmt(schema, n)}")
    ratio = statistics.median(load) / statistics.median(baseline)
    print(f"loading costs {ratio:.1f}x a plain parse")

    def run(*args: str) -> None:
        subprocess.run([*SERVEGATE, *args], cwd=ROOT, stdout=subprocess.DEVNULL, check=False)

    manifests = [
        p for p in REALWORLD.rglob("*.yaml") if p.name not in ("SOURCE.yaml", "FINDINGS.yaml")
    ]
    start_up = timed(lambda: run("--version"), runs)
    corpus = timed(lambda: run("lint", str(REALWORLD), "--advice"), runs)
    print(f"real-world corpus: {len(manifests)} manifests, end to end in a new process")
    print(f"servegate --version        {fmt(start_up)}")
    print(f"servegate lint realworld   {fmt(corpus)}")


if __name__ == "__main__":
    main()
