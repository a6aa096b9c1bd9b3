"""Port-forward vs in-cluster load generation, side by side in one run: ceiling and timing
error, and the in-cluster ceiling with 1, 2 and 4 worker pods.

    flock /tmp/sg-cluster.lock .venv/bin/python bench/incluster_load.py [--repeats 3]

On the local cluster (brought up if it is not running, and taken down again then), one
simulator pod with fast tokens and server timestamps (the calibration simulator's settings)
behind a Service, in a namespace of the bench's run. Then, per repeat, the same ceiling search
as ``servegate calibrate`` (servegate.load.calibration_run: open-loop constant rates, double
until a probe fails, confirm, bisect; pass = sent >= 95% of target, no errors, send lag within
the idle baseline + 1 ms p50 / + 20 ms p99), for:

- port-forward: one Locust worker on this machine, through ``kubectl port-forward`` to a
  relay pod in front of the Service (what a suite does on a cluster it cannot route into);
- in-cluster with 1, 2 and 4 worker pods (servegate.harness.incluster, master in a pod).

Each search ends with a run at half the ceiling it found; its timing error is
|client TTFT - server TTFT| against the simulator's own timestamps on each request.
Prints each repeat, then median and spread (min-max).
The simulator, the worker pods, the relay and the cluster itself share this machine's cores,
so the figures say what this machine does; the simulator runs in a pod, where its CPU is not
sampled, so a ceiling the simulator set is not told apart: each ceiling is a lower bound.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from servegate.cli.calibrate import SIM_SETTINGS  # noqa: E402
from servegate.harness.cluster import ClusterHandle, ServiceURL, pin_to_nodes, service_url  # noqa: E402
from servegate.harness.deploy import deployed_unit  # noqa: E402
from servegate.harness.incluster import InClusterLoad  # noqa: E402
from servegate.k8s.loadpods import LOAD_IMAGE  # noqa: E402
from servegate.load.calibrate import Criteria, SearchPlan  # noqa: E402
from servegate.load.calibration_file import Calibration  # noqa: E402
from servegate.load.calibration_run import Setup, calibrate  # noqa: E402
from servegate.load.runner import run_load  # noqa: E402


def sim_objects() -> list[dict[str, Any]]:
    env = [
        {"name": f"SERVEGATE_SIM_{k.upper()}", "value": str(v).lower()}
        for k, v in SIM_SETTINGS.items()
    ]
    labels = {"app": "bench-sim"}
    container = {
        "name": "sim",
        "image": LOAD_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "ports": [{"containerPort": 8000}],
        "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench-sim"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bench-sim"},
        "spec": {"selector": labels, "ports": [{"port": 8000, "targetPort": 8000}]},
    }
    return [deployment, service]


@contextlib.contextmanager
def local_cluster() -> Iterator[ClusterHandle]:
    """The local cluster seen as one this machine cannot route into (Services through a
    port-forward), brought up if needed and then taken down again."""
    from servegate.cluster.providers import provider
    from servegate.k8s.client import Target, connect
    from servegate.k8s.nodes import container_nodes
    from servegate.k8s.scope import RunScope

    prov: Any = provider("local")
    started = not prov.cluster.running()
    access = prov.up() if started else prov.access()
    try:
        cluster = connect(Target(str(access.kubeconfig), access.context, (access.context,)))
        try:
            yield ClusterHandle(
                kind="local",
                kubeconfig=str(access.kubeconfig),
                context=access.context,
                client=cluster,
                routes_to_services=False,
                scope=RunScope.current("bench-incluster"),
                container_nodes=container_nodes(cluster.api_client),
            )
        finally:
            cluster.close()
    finally:
        if started:
            prov.down()


def search(
    url: str, work: Path, workers: int, args: argparse.Namespace, launch: Any
) -> Calibration:
    setup = Setup(step_duration_s=args.duration, workers=workers)
    plan = SearchPlan(args.start_rate, args.max_rate, 0.1, args.max_probes)
    return calibrate(url, work, setup, Criteria(), plan, launch=launch)


def line(name: str, cal: Calibration) -> str:
    te = cal.timing_error
    ttft = (
        "-"
        if te is None or te.ttft_abs_p50_ms is None
        else f"{te.ttft_abs_p50_ms:.2f} / {te.ttft_abs_p99_ms:.2f} ms at {te.rate_rps:.0f} req/s"
    )
    total = cal.ceiling_rps_per_worker * cal.workers
    return f"  {name:<22} ceiling {total:8.1f} req/s ({cal.bound_by:<9})  |TTFT err| p50/p99 {ttft}"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=2.0, help="measured s per probe")
    ap.add_argument("--max-probes", type=int, default=8)
    ap.add_argument("--start-rate", type=float, default=50.0)
    ap.add_argument("--max-rate", type=float, default=5000.0)
    ap.add_argument("--pods", default="1,2,4")
    args = ap.parse_args()
    pods = [int(p) for p in args.pods.split(",")]
    results: dict[str, list[Calibration]] = {}
    with (
        local_cluster() as handle,
        tempfile.TemporaryDirectory(prefix="sg-bench-incluster-") as tmp,
    ):
        objects = sim_objects()
        if handle.container_nodes:
            objects = pin_to_nodes(objects, handle.container_nodes)
        with (
            deployed_unit(handle.client, handle.scope, "bench", objects, Path(tmp) / "dep") as dep,
            service_url(handle, dep.namespace, "bench-sim") as url,
        ):
            assert isinstance(url, ServiceURL)
            print(f"simulator Service {url.in_cluster}; port-forward {url}; image {LOAD_IMAGE}")
            for r in range(args.repeats):
                print(f"repeat {r + 1}/{args.repeats}", flush=True)
                runs = [("port-forward, 1 worker", 1, run_load)]
                runs += [(f"in-cluster, {n} pod(s)", n, InClusterLoad(url, False)) for n in pods]
                for name, n, launch in runs:
                    work = Path(tmp) / f"r{r}-{name.split(',')[0]}-{n}"
                    cal = search(str(url), work, n, args, launch)
                    results.setdefault(name, []).append(cal)
                    print(line(name, cal), flush=True)
                    for note in cal.notes:
                        print(f"    note: {note}")
    print(f"\nmedian (min-max) over {args.repeats} repeat(s):")
    print(f"  {'generator':<22} {'ceiling req/s':<26} {'|TTFT err| p50 ms':<24} p99 ms")
    for name, cals in results.items():
        ceil = [c.ceiling_rps_per_worker * c.workers for c in cals]
        te = [c.timing_error for c in cals if c.timing_error is not None]
        p50 = [t.ttft_abs_p50_ms for t in te if t.ttft_abs_p50_ms is not None]
        p99 = [t.ttft_abs_p99_ms for t in te if t.ttft_abs_p99_ms is not None]
        print(f"  {name:<22} {spread(ceil):<26} {spread(p50):<24} {spread(p99)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
