"""Run time of the GPU conformance tier; prints figures, asserts nothing.

    .venv/bin/python bench/gpu_suite_bench.py --kubeconfig K --context C [--runs 3]

Runs ``pytest suites/conformance/gpu`` and its meta-tests (``pytest
tests/e2e/suites/test_gpu_checks_can_fail.py``) against an existing cluster (one you started,
e.g. ``servegate cluster up --no-node --name h --port-slot 40``), ``--runs`` times each, and
prints the median and spread of the wall time. Baseline in the same run: creating and deleting
one empty run-owned namespace through servegate.k8s.deploy, the fixed cost every check pays for
its Setup and Teardown.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from servegate.k8s.client import Target, connect
from servegate.k8s.deploy import create_namespace, delete_run_objects
from servegate.k8s.scope import RunScope
from servegate.paths import REPO

META_TESTS = "tests/e2e/suites/test_gpu_checks_can_fail.py"


def _spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.1f} s ({min(xs):.1f}-{max(xs):.1f}, n={len(xs)})"


def baseline(kubeconfig: str, context: str, runs: int) -> list[float]:
    cluster = connect(Target(kubeconfig, context, (context,)))
    scope = RunScope.current(f"bench-{int(time.time())}")
    out = []
    try:
        for _ in range(runs):
            t0 = time.monotonic()
            ns = create_namespace(cluster, scope, "gpu-bench")
            delete_run_objects(cluster, ns, [], scope)
            out.append(time.monotonic() - t0)
    finally:
        cluster.close()
    return out


def tier(path: str, kubeconfig: str, context: str, runs: int) -> list[float]:
    out = []
    with tempfile.TemporaryDirectory() as results:
        for _ in range(runs):
            cmd = [sys.executable, "-m", "pytest", path, "-q", "-p", "no:cacheprovider",
                   "--sg-cluster", "existing", "--kubeconfig", kubeconfig, "--context", context,
                   "--allow-context", context, "--results", results]  # fmt: skip
            t0 = time.monotonic()
            res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
            out.append(time.monotonic() - t0)
            last = res.stdout.strip().splitlines()[-1:] or ["(no output)"]
            print(f"  {path}: exit {res.returncode}, {last[0]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--context", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    base = baseline(a.kubeconfig, a.context, a.runs)
    suite = tier("suites/conformance/gpu", a.kubeconfig, a.context, a.runs)
    meta = tier(META_TESTS, a.kubeconfig, a.context, a.runs)
    print(f"baseline: empty namespace create+delete  {_spread(base)}")
    print(f"suites/conformance/gpu (9 tests)          {_spread(suite)}")
    print(f"GPU meta-tests (9 tests)                  {_spread(meta)}")


if __name__ == "__main__":
    main()
