"""Real node: time to Ready, idle RSS of its processes, and time of a clean ``down``.

    .venv/bin/python bench/node_up.py [--repeat 2] [--idle 10]

Needs root and a warm cache (kubelet/kube-proxy built, images cached). Each round boots a
whole local cluster with the real node, waits ``--idle`` seconds, samples RSS, and takes it
down, asserting no leftovers. The baseline in the same run is the control plane's own
start time (etcd, kube-apiserver, controller manager, scheduler) reported by ``up``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from servegate.cluster.local import LocalCluster
from servegate.cluster.node.layout import Layout
from servegate.cluster.node.leftovers import our_shims
from servegate.cluster.node.runtime import find_leftovers
from servegate.procs import owned, rss_kib


def _summary(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    return (
        f"median {statistics.median(samples):7.2f}  min {min(samples):7.2f}  "
        f"max {max(samples):7.2f}  n={len(samples)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--idle", type=float, default=10.0)
    args = ap.parse_args()
    node_s: list[float] = []
    base_s: list[float] = []
    down_s: list[float] = []
    rss: dict[str, list[float]] = {}
    for i in range(args.repeat):
        # A fresh port block per round: the last round's ports may still be in TIME_WAIT.
        lines: list[str] = []
        lc = LocalCluster(name="nodebench", slot=60 + i, log=lines.append)
        state = lc.state / "node"
        res = lc.up(node=True, allow_build=False)
        node_s.append(res.timings.get("node", float("nan")))
        print(" ".join(line for line in lines if " Ready (" in line), flush=True)
        cp = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
        base_s.append(sum(v for k, v in res.timings.items() if k in cp))
        time.sleep(args.idle)
        layout = Layout(state)
        for rec in layout.processes().records():
            kib = rss_kib(rec.pid) if owned(rec) else None
            if kib is not None:
                rss.setdefault(rec.name, []).append(kib / 1024)
        shims = [rss_kib(pid) or 0 for pid in our_shims(layout)]
        rss.setdefault("shims (all)", []).append(sum(shims) / 1024)
        t0 = time.monotonic()
        lc.down()
        down_s.append(time.monotonic() - t0)
        left = find_leftovers(state)
        assert not left, left
    print(f"node up to Ready (s)        {_summary(node_s)}")
    print(f"baseline control plane (s) {_summary(base_s)}")
    print(f"down incl. sweep (s)        {_summary(down_s)}")
    for name, values in sorted(rss.items()):
        print(f"idle RSS {name:18s} (MiB) {_summary(values)}")


if __name__ == "__main__":
    main()
