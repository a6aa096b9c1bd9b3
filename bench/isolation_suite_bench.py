"""Run time of the network isolation tier on the local cluster; prints figures, asserts nothing.

    .venv/bin/python bench/isolation_suite_bench.py [--runs 3] [--meta] [--cold-build]

Runs ``pytest suites/conformance/isolation`` (and with ``--meta`` the meta-tests in
tests/e2e/isolation) against the running local cluster, which it never starts or stops, and
prints the median and spread of the wall time. Baseline in the same run: creating and
deleting one empty run-owned namespace, the fixed cost of every Setup and Teardown (the
isolation checks pay it twice). ``--cold-build`` also times ``go install`` of the enforcer
into a temporary directory with an empty Go build cache (modules come from the module
cache): minutes of both cores, so it is opt-in.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from servegate.cluster.addons import netpol
from servegate.cluster.node.gobuild import go_install
from servegate.k8s.client import Target, connect
from servegate.k8s.deploy import create_namespace, delete_run_objects
from servegate.k8s.scope import RunScope
from servegate.paths import REPO

KUBECONFIG = Path.home() / ".local/state/servegate/cluster/local/kubeconfig"
CONTEXT = "servegate-local"


def _spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.1f} s ({min(xs):.1f}-{max(xs):.1f}, n={len(xs)})"


def baseline(runs: int) -> list[float]:
    cluster = connect(Target(str(KUBECONFIG), CONTEXT, (CONTEXT,)))
    scope = RunScope.current(f"bench-{int(time.time())}")
    out = []
    try:
        for _ in range(runs):
            t0 = time.monotonic()
            ns = create_namespace(cluster, scope, "isolation-bench")
            delete_run_objects(cluster, ns, [], scope)
            out.append(time.monotonic() - t0)
    finally:
        cluster.close()
    return out


def tier(path: str, runs: int) -> list[float]:
    out = []
    with tempfile.TemporaryDirectory() as results:
        for _ in range(runs):
            cmd = [sys.executable, "-m", "pytest", path, "-q", "-p", "no:cacheprovider",
                   "--sg-cluster=local", "--keep-cluster-up", "--results", results]  # fmt: skip
            t0 = time.monotonic()
            res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
            out.append(time.monotonic() - t0)
            last = res.stdout.strip().splitlines()[-1:] or ["(no output)"]
            print(f"  {path}: exit {res.returncode}, {last[0]}")
    return out


def cold_build() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GOCACHE": str(Path(tmp) / "gocache")}
        t0 = time.monotonic()
        go_install(netpol.MODULE, netpol.VERSION, Path(tmp) / "kube-router", env=env)
        return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--meta", action="store_true", help="also time tests/e2e/isolation")
    ap.add_argument("--cold-build", action="store_true", help="also time a cold enforcer build")
    a = ap.parse_args()
    base = baseline(a.runs)
    suite = tier("suites/conformance/isolation", a.runs)
    meta = tier("tests/e2e/isolation", a.runs) if a.meta else []
    print(f"baseline: empty namespace create+delete   {_spread(base)}")
    print(f"suites/conformance/isolation (3 tests)     {_spread(suite)}")
    if meta:
        print(f"tests/e2e/isolation meta-tests (4 tests)   {_spread(meta)}")
    if a.cold_build:
        print(f"kube-router {netpol.VERSION} cold build (empty GOCACHE): {cold_build():.0f} s")
    print(f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
