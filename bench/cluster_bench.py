"""Benchmarks of the embedded local cluster; prints figures, asserts nothing.

    .venv/bin/python bench/cluster_bench.py [--runs 3] [--skip-scale] [--port-slot 9]

1. build: recorded duration of the last cold build of each binary group, and cache size.
2. warm up: ``up`` (binaries cached) until every node is Ready, with the default fleet;
   baseline in the same run: ``up`` of the bare control plane (no fleet). Median and spread.
3. idle memory: RSS sum of every cluster process after 10 s idle.
4. scale: ``up`` with fleets/scale-1000.yaml, then a 2,000-pod GPU Deployment (4 GPUs each):
   time until every pod is bound, and the fraction of the fleet's GPUs allocated.
Uses its own state directory and port slot; runs ``down`` after every step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]

from servegate.cluster import binaries, paths  # noqa: E402
from servegate.cluster.local import LocalCluster  # noqa: E402
from servegate.procs import owned  # noqa: E402


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def bench_build() -> None:
    print("== build: recorded durations per group (first = cold if the Go cache was empty)")
    for d in sorted(paths.build_dir().glob("*")):
        try:
            runs = json.loads((d / "build-time.json").read_text())["runs"]
        except (OSError, ValueError, KeyError):
            runs = []
        shown = ", ".join(f"{r:.0f} s" for r in runs) if runs else "not recorded"
        print(f"  {d.name:<28} {shown}")
    size = _du(paths.bin_cache_dir())
    print(f"  binary cache {paths.bin_cache_dir()}: {size / 2**20:.0f} MiB")


def _up_down(name: str, slot: int, fleet: Path | None) -> tuple[float, float]:
    cluster = LocalCluster(name, slot=slot, log=lambda m: None)
    t = time.monotonic()
    result = cluster.up(fleet, node=False, allow_build=False)
    took = time.monotonic() - t
    assert not result.already_up
    t = time.monotonic()
    cluster.down()
    return took, time.monotonic() - t


def _spread(xs: list[float]) -> str:
    return (
        f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})"
    )


def bench_warm_up(slot: int, runs: int) -> None:
    print("== warm up until every node Ready (binaries cached, --no-node)")
    base = [_up_down("bench", slot, None)[0] for _ in range(runs)]
    print(f"  baseline, control plane only:  {_spread(base)}")
    ups, downs = [], []
    for _ in range(runs):
        u, d = _up_down("bench", slot, ROOT / "fleets" / "default.yaml")
        ups.append(u)
        downs.append(d)
    print(f"  default fleet (7 kwok nodes):  {_spread(ups)}   goal <= 30 s")
    print(f"  down:                          {_spread(downs)}")


def bench_idle_memory(slot: int) -> None:
    print("== idle memory (RSS) with the default fleet, after 10 s idle")
    cluster = LocalCluster("bench", slot=slot, log=lambda m: None)
    cluster.up(ROOT / "fleets" / "default.yaml", node=False, allow_build=False)
    try:
        time.sleep(10)
        total = 0
        for rec in cluster.table.records():
            if owned(rec):
                rss = psutil.Process(rec.pid).memory_info().rss
                total += rss
                print(f"  {rec.name:<26} {rss / 2**20:7.0f} MiB")
        print(f"  total                      {total / 2**20:7.0f} MiB   goal <= 2560 MiB")
    finally:
        cluster.down()


def _gpu_deployment(replicas: int, gpus: int) -> dict[str, Any]:
    labels = {"app": "bench-gpu"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench-gpu", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "tolerations": [
                        {
                            "key": "spot",
                            "operator": "Equal",
                            "value": "true",
                            "effect": "NoSchedule",
                        }
                    ],
                    "containers": [
                        {
                            "name": "model",
                            "image": "servegate/sim:bench",
                            "resources": {
                                "limits": {"nvidia.com/gpu": str(gpus)},
                                "requests": {"cpu": "1", "memory": "1Gi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def bench_scale(slot: int, runs: int, pods: int = 2000, gpus: int = 4) -> None:
    print(f"== scale: fleets/scale-1000.yaml, then {pods} pods x {gpus} GPUs")
    ready, bound = [], []
    for _ in range(runs):
        r, b = _scale_once(slot, pods, gpus)
        ready.append(r)
        bound.append(b)
    print(f"  1,000 nodes Ready:          {_spread(ready)}")
    print(f"  {pods} pods bound:           {_spread(bound)}   goal <= 120 s")


def _scale_once(slot: int, pods: int, gpus: int) -> tuple[float, float]:
    cluster = LocalCluster("bench", slot=slot, log=lambda m: None)
    t0 = time.monotonic()
    result = cluster.up(
        ROOT / "fleets" / "scale-1000.yaml", node=False, allow_build=False, ready_timeout=300
    )
    ready = time.monotonic() - t0
    print(
        f"  1,000 nodes Ready in {time.monotonic() - t0:.1f} s "
        f"(fleet objects {result.timings.get('fleet', 0):.1f} s)"
    )
    try:
        with cluster._api() as api:
            nodes = api.get("/api/v1/nodes")["items"]
            capacity = sum(
                int(n["status"]["allocatable"].get("nvidia.com/gpu", "0")) for n in nodes
            )
            t = time.monotonic()
            api.create("/apis/apps/v1/namespaces/default/deployments", _gpu_deployment(pods, gpus))
            bound = 0
            deadline = t + 300
            while time.monotonic() < deadline:
                items = api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dbench-gpu")[
                    "items"
                ]
                bound = sum(1 for p in items if p["spec"].get("nodeName"))
                if bound >= pods:
                    break
                time.sleep(1)
            took = time.monotonic() - t
            print(f"  {bound}/{pods} pods bound in {took:.1f} s   goal <= 120 s")
            print(f"  GPUs allocated: {bound * gpus}/{capacity} = {bound * gpus / capacity:.1%}")
    finally:
        cluster.down()
    return ready, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port-slot", type=int, default=9)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--scale-runs", type=int, default=1)
    ap.add_argument("--only-scale", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("SERVEGATE_OFFLINE", "1")
    missing = [
        n
        for n in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
        if binaries.BinaryResolver(_versions()).lookup(n) is None
    ]
    bench_build()
    if missing:
        print(f"binaries not built: {', '.join(missing)}; run 'servegate cluster build' first")
        return
    with tempfile.TemporaryDirectory(prefix="servegate-bench-") as state:
        os.environ["XDG_STATE_HOME"] = state
        if not args.only_scale:
            bench_warm_up(args.port_slot, args.runs)
            bench_idle_memory(args.port_slot)
        if not args.skip_scale:
            bench_scale(args.port_slot, args.scale_runs)


def _versions() -> Any:
    from servegate.cluster.versions import load_versions

    return load_versions()


if __name__ == "__main__":
    main()
