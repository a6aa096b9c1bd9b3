"""Benchmarks of the kind provider beside the embedded local cluster; prints figures, asserts
nothing.

    .venv/bin/python bench/kind_bench.py [--runs 3] [--cold-image N] [--skip-local] [--port-slot 9]

1. cold node image (``--cold-image N`` times): the kind-only inputs removed from the cache
   (both Debian trees, the preloaded image store, the node archive, kubeadm and kubectl), then
   ``nodeimage.build``; the other Kubernetes binaries, CoreDNS and Go's build cache stay warm.
2. warm kind: ``KindCluster.up`` (node image already in Docker; servegate's dockerd started by
   it) and ``down``, ``--runs`` times: total, and kind's own ``kind create cluster`` step.
3. warm local, same run: ``LocalCluster.up`` with the default fleet and the real node, and
   ``down``, ``--runs`` times (skipped when a local cluster already runs on this host).
4. idle memory after 60 s, each cluster alone with one probe pod: RSS summed over every process
   of it (kind: the node container's cgroup, dockerd and its containerd, shims, docker-proxy;
   local: its recorded processes, containerd shims and the pods' cgroups), and the cgroup
   memory charge (kind: the node container; local: the pods only, the rest are host processes).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

from servegate.cluster import binaries  # noqa: E402
from servegate.cluster.kind import dockerhost, nodeimage, rootfs  # noqa: E402
from servegate.cluster.kind.cluster import KindCluster  # noqa: E402
from servegate.cluster.local import LocalCluster  # noqa: E402
from servegate.cluster.node.layout import BRIDGE, Layout  # noqa: E402
from servegate.cluster.node.net import link_exists  # noqa: E402
from servegate.cluster.versions import load_versions  # noqa: E402

MEMCG = Path("/sys/fs/cgroup/memory")


def _spread(xs: list[float]) -> str:
    return (
        f"median {statistics.median(xs):.1f} s (min {min(xs):.1f}, max {max(xs):.1f}, n={len(xs)})"
    )


def _quiet(_m: str) -> None:
    pass


def _no_progress(_l: str, _d: int, _t: int) -> None:
    pass


def bench_cold_image(runs: int) -> None:
    print("== cold node image (kind-only inputs removed; Kubernetes build and Go cache warm)")
    v = load_versions()
    took = []
    for _ in range(runs):
        for stem, pkgs in (
            ("kindnode", rootfs.NODE_PACKAGES),
            ("kindproxy", rootfs.PROXY_PACKAGES),
        ):
            rootfs.layer_path(stem, pkgs).unlink(missing_ok=True)
        shutil.rmtree(nodeimage.archive_dir(), ignore_errors=True)
        for name in ("kubeadm", "kubectl"):
            binaries.cached_path(name, v.kubernetes).unlink(missing_ok=True)
        t = time.monotonic()
        img = nodeimage.build(v, _no_progress, _quiet)
        took.append(time.monotonic() - t)
        print(f"  run: {took[-1]:.0f} s, {img.tarball.stat().st_size / 2**20:.0f} MiB {img.ref}")
    print(f"  cold node image: {_spread(took)}")


def bench_warm_kind(runs: int) -> None:
    print("== warm kind (node image in Docker; dockerd started by up, stopped by down)")
    totals, creates, downs = [], [], []
    for _ in range(runs):
        kc = KindCluster("sg-bench")
        up = kc.up()
        totals.append(up.timings["total"])
        creates.append(up.timings["create"])
        t = time.monotonic()
        kc.down()
        downs.append(time.monotonic() - t)
        print("  run: " + ", ".join(f"{k} {s:.1f}s" for k, s in up.timings.items()))
    print(f"  kind create cluster:       {_spread(creates)}")
    print(f"  servegate up (kind total): {_spread(totals)}")
    print(f"  down:                      {_spread(downs)}")


def _local_busy() -> bool:
    """Another local cluster (someone else's) runs: the real node cannot be shared."""
    return link_exists(BRIDGE) or LocalCluster("local").running()


def bench_warm_local(runs: int, slot: int) -> None:
    print("== warm local cluster, same run (default fleet + real node)")
    ups, downs = [], []
    for _ in range(runs):
        if _local_busy():
            print("  stopped: another local cluster started meanwhile")
            break
        lc = LocalCluster("sgbench", slot=slot, log=_quiet)
        t = time.monotonic()
        res = lc.up(ROOT / "fleets" / "default.yaml", node=True, allow_build=False)
        ups.append(time.monotonic() - t)
        assert not res.already_up
        t = time.monotonic()
        lc.down()
        downs.append(time.monotonic() - t)
    if ups:
        print(f"  servegate cluster up:      {_spread(ups)}")
        print(f"  down:                      {_spread(downs)}")


def _cgroup_pids(group: Path) -> set[int]:
    pids: set[int] = set()
    for procs in group.rglob("cgroup.procs") if group.is_dir() else []:
        pids.update(int(p) for p in procs.read_text().split())
    return pids


def _rss(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total


def _mentioning(needle: str) -> set[int]:
    return {
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if needle in " ".join(p.info.get("cmdline") or [])
    }


def _probe(kubectl: list[str], selector: str) -> None:
    import subprocess

    argv = [*kubectl, "run", "probe", "--image=servegate.local/probe:0.1.0"]
    argv += ["--image-pull-policy=Never", "--restart=Never", "--", "serve"]
    if selector:
        argv.insert(len(kubectl) + 2, f'--overrides={{"spec":{{"nodeSelector":{selector}}}}}')
    subprocess.run(argv, check=True, capture_output=True)
    subprocess.run([*kubectl, "wait", "--for=condition=Ready", "pod/probe", "--timeout=120s"],
                   check=True, capture_output=True)  # fmt: skip


def _idle(what: str, measure: Callable[[], tuple[int, int]]) -> None:
    time.sleep(60)
    rss, charged = measure()
    print(f"  {what:<8} RSS sum {rss / 2**20:6.0f} MiB, cgroup charge {charged / 2**20:6.0f} MiB")


def bench_memory(slot: int, local: bool) -> None:
    from servegate.k8s.render import kubectl_binary

    print("== idle memory, 60 s after up, one probe pod")
    kc = KindCluster("sg-bench")
    kc.up()
    try:
        _probe(kc.kubectl(), "")
        docker = dockerhost.DockerHost()
        cid = docker._ours().docker("inspect", "-f", "{{.Id}}", "sg-bench-control-plane").stdout
        group = MEMCG / "docker" / cid.strip()

        def kind_mem() -> tuple[int, int]:
            rec = docker.procs.get("dockerd")
            pids = _cgroup_pids(group) | _mentioning(cid.strip())
            if rec is not None:
                daemon = psutil.Process(rec.pid)
                pids |= {rec.pid} | {c.pid for c in daemon.children(recursive=True)}
            charged = int((group / "memory.usage_in_bytes").read_text())
            return _rss(pids), charged

        _idle("kind", kind_mem)
    finally:
        kc.down()
    if not local or _local_busy():
        return
    lc = LocalCluster("sgbench", slot=slot, log=_quiet)
    res = lc.up(ROOT / "fleets" / "default.yaml", node=True, allow_build=False)
    try:
        kubectl = [
            str(kubectl_binary()),
            "--kubeconfig",
            str(res.kubeconfig),
            "--context",
            res.context,
        ]
        _probe(kubectl, '{"servegate.io/node":"real"}')

        def local_mem() -> tuple[int, int]:
            pods = MEMCG / "servegate"
            pids = _cgroup_pids(pods) | _mentioning(str(lc.state))
            pids |= {r.pid for r in lc.table.records()}
            pids |= {r.pid for r in Layout(lc.state / "node").processes().records()}
            charged = int((pods / "memory.usage_in_bytes").read_text()) if pods.is_dir() else 0
            return _rss(pids), charged

        _idle("local", local_mem)
    finally:
        lc.down()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold-image", type=int, default=0, metavar="N")
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--port-slot", type=int, default=9)
    args = ap.parse_args()
    local = not args.skip_local
    if local and _local_busy():
        print("note: a local cluster runs on this host: the local figures are skipped")
        local = False
    if args.cold_image:
        bench_cold_image(args.cold_image)
    nodeimage.build(load_versions(), _no_progress, _quiet)  # warm from here on
    bench_warm_kind(args.runs)
    if local:
        bench_warm_local(args.runs, args.port_slot)
    bench_memory(args.port_slot, local)


if __name__ == "__main__":
    main()
