#!/usr/bin/env python
"""The whole suite in foreign mode on the local cluster, and the audit log's account of it.

The local cluster stands in for a cluster servegate did not make. First, as that cluster's
owners would have, the cluster's admin installs the operators' CRDs (manifests/crds), starts
the operators and APIs the suites use (the add-ons below) and gives the cluster a default
StorageClass (a pool of hostPath volumes, removed afterwards) and imports the image the Ray
Serve checks run into its node's runtime (where a registry would have it); then ``pytest suites``
runs through the ``existing`` provider with the suite identity's kubeconfig and
``--sg-strict``, given only what a user of a foreign cluster gives:
a Prometheus URL (``SERVEGATE_PROMETHEUS_URL``, ``SERVEGATE_KEDA_PROMETHEUS_URL``) and a Redis
address (``SERVEGATE_KEDA_REDIS``). Afterwards the API server's audit log is read for every
write by the suite identity, and each must fall within the run. The cold-start check is
deselected, as its message tells users of other clusters (it needs the local real node).

    python bench/foreign_suites.py --lock /tmp/sg-cluster.lock
    python bench/foreign_suites.py suites/autoscaling --run-id foreign-hpa

It prints the check counts, every check that did not pass with its reason, the writes by
resource and every write outside the run, and saves them as ``<results>/<run id>/foreign.json``.
Takes most of an hour for the whole suite on the 2-core machine. The cluster is brought up
with the stand-in fleet (fleets/foreign-standin.yaml: its one real node carries the 8 A100 80GB
the reference units and the rollout checks ask for) if it is not running, and taken down
again at the end, even when interrupted (``--keep`` keeps it); a running cluster is left
running, and one made with another fleet is refused (take it down first).

Exit status 0 when pytest passed and no write fell outside the run, 1 otherwise, 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import fcntl
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from servegate.cluster import addons  # noqa: E402
from servegate.cluster.addons import redis as redis_addon  # noqa: E402
from servegate.cluster.controlplane import context_name  # noqa: E402
from servegate.cluster.foreign import ForeignRun, run_foreign  # noqa: E402
from servegate.cluster.local import LocalCluster  # noqa: E402
from servegate.errors import UserError  # noqa: E402
from servegate.k8s.render import kubectl_binary  # noqa: E402
from servegate.paths import manifests_root  # noqa: E402

# What the suites use that a cluster's owners install: the operators, the metrics APIs, and
# NetworkPolicy enforcement. Redis stands in for the queue a user names.
ADDONS = (
    "metrics-server",
    "prometheus-adapter",
    "keda",
    "kserve",
    "kuberay",
    "network-policy",
    "redis",
)
CLI = [str(Path(sys.executable).parent / "servegate")]
# Checks a user of a foreign cluster deselects, as their messages say: the cold-start check
# puts a hostPath model cache on the local cluster's real node.
DESELECT = ("suites/benchmark/patterns/test_pattern_cold_start.py",)
# Storage as a cluster's owners provide it: a default StorageClass, here backed by a pool of
# hostPath volumes made beforehand (the local cluster has no provisioner), removed afterwards.
STANDIN_LABEL = "servegate.io/foreign-standin"
STANDIN_CLASS = "foreign-standin"
STANDIN_ROOT = Path("/var/tmp/servegate-foreign-pv")
POOL = 16
# The cluster the owners made: the default fleet's simulated pools, and a real node with
# 8 A100 80GB (the reference StatefulSet asks for A100 80GB or H100; a canary holds 4 GPUs).
FLEET = REPO / "fleets" / "foreign-standin.yaml"
# servegate's images the sim overlays run beyond those every local cluster has: on a real
# cluster they would be in the owners' registry; here the owners import them.
OWNER_IMAGES = ("ray",)


def storage_objects() -> list[dict[str, object]]:
    labels = {STANDIN_LABEL: "true"}
    sc: dict[str, object] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STANDIN_CLASS,
            "labels": labels,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Retain",
    }
    pvs: list[dict[str, object]] = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{STANDIN_CLASS}-{i}", "labels": labels},
            "spec": {
                "capacity": {"storage": "1Ti"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": STANDIN_CLASS,
                "hostPath": {"path": str(STANDIN_ROOT / str(i)), "type": "DirectoryOrCreate"},
            },
        }
        for i in range(POOL)
    ]
    return [sc, *pvs]


@contextlib.contextmanager
def standin_storage(kubectl: list[str]) -> Iterator[None]:
    """The default StorageClass and its volumes for the run; deleted (with the volumes'
    directories) afterwards, whatever happened."""
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": storage_objects()})
    subprocess.run([*kubectl, "apply", "-f", "-"], input=doc, text=True, check=True)
    try:
        yield
    finally:
        sel = f"{STANDIN_LABEL}=true"
        for kind in ("persistentvolumes", "storageclasses"):
            subprocess.run([*kubectl, "delete", kind, "-l", sel, "--wait=false"], check=False)
        shutil.rmtree(STANDIN_ROOT, ignore_errors=True)


@contextlib.contextmanager
def locked(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    with open(path, "a") as f:
        print(f"waiting for {path} ...", flush=True)
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def admin_kubectl(name: str) -> list[str]:
    """kubectl as the local cluster's admin (the stand-in cluster's owners)."""
    admin = str(LocalCluster(name).layout.admin_kubeconfig)
    return [str(kubectl_binary()), "--kubeconfig", admin, "--context", context_name(name)]


def standin_up(name: str) -> None:
    """The stand-in cluster up with :data:`FLEET`; one already running must have been made
    with it, unchanged since (its capacity is what the run is judged on)."""
    cluster = LocalCluster(name)
    if cluster.running() and not cluster.made_with(FLEET):
        raise UserError(
            f"cluster {name} runs with fleet {cluster.fleet_file}, not {FLEET} as it reads "
            f"now: take it down first (servegate cluster down --name {name})"
        )
    subprocess.run([*CLI, "cluster", "up", "--name", name, "--fleet", str(FLEET)], check=True)


def owner_images(name: str) -> None:
    """Import :data:`OWNER_IMAGES` into the stand-in's node (built and cached the first time)."""
    from servegate.cluster.providers import provider

    def progress(label: str, done: int, total: int) -> None:
        if total and done == total:
            print(f"built {label}", flush=True)

    refs = provider("local", name=name).load_images(OWNER_IMAGES, progress)
    print(f"imported as the cluster's owners: {', '.join(refs)}", flush=True)


def prepare(name: str, wanted: tuple[str, ...]) -> dict[str, str]:
    """Bring the cluster and the add-ons up (as the cluster's admin); the settings a user of a
    foreign cluster would give the suites."""
    standin_up(name)
    # The CRDs of the operators the reference units use, as the cluster's owners install them
    # (the suites never install CRDs on a cluster they did not make).
    kubectl = admin_kubectl(name)
    crds = str(manifests_root() / "crds")
    subprocess.run(
        [*kubectl, "apply", "--server-side", "--force-conflicts", "-k", crds], check=True
    )
    wait = ["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]
    subprocess.run([*kubectl, *wait], check=True)
    if wanted:
        subprocess.run([*CLI, "cluster", "addons", "--name", name, *wanted], check=True)
    owner_images(name)
    ctx = addons.context(name)
    env = {
        "SERVEGATE_PROMETHEUS_URL": ctx.prometheus_url,
        # KEDA's operator is a host process here: it reaches the same loopback URL.
        "SERVEGATE_KEDA_PROMETHEUS_URL": ctx.prometheus_url,
    }
    if "redis" in wanted:
        host, port = redis_addon.address(ctx)
        env[redis_addon.REDIS_ENV] = f"{host}:{port},{redis_addon.LOOPBACK}:{port}"
    return env


@contextlib.contextmanager
def brought_up(name: str, keep: bool) -> Iterator[None]:
    """Take the cluster down at the end if it was not running at the start (and not ``keep``)."""
    was_running = LocalCluster(name).running()
    try:
        yield
    finally:
        if not was_running and not keep and LocalCluster(name).running():
            print(f"taking cluster {name} down (this run brought it up; --keep keeps it)")
            subprocess.run([*CLI, "cluster", "down", "--name", name], check=False)


def summary(run: ForeignRun) -> dict[str, object]:
    checks = run.checks()
    outcomes = collections.Counter(str(c.get("outcome")) for c in checks)
    by_resource = collections.Counter(f"{w.verb} {w.resource}" for w in run.audit.writes)
    return {
        "pytest_exit": run.returncode,
        "seconds": round(run.seconds, 1),
        "checks": dict(outcomes),
        "not_passed": [
            {"test": c.get("test"), "outcome": c.get("outcome"), "detail": c.get("detail", "")}
            for c in checks
            if c.get("outcome") != "passed"
        ],
        "writes": len(run.audit.writes),
        "writes_by_verb_resource": dict(sorted(by_resource.items())),
        "audit_complete": run.audit.complete,
        "audit_files": [str(p) for p in run.audit.files],
        "outside_run": [str(w) for w in run.outside],
    }


def show(doc: dict[str, object]) -> None:
    print(f"\npytest exit {doc['pytest_exit']} after {doc['seconds']} s; checks {doc['checks']}")
    for row in doc["not_passed"]:  # type: ignore[attr-defined]
        print(f"  {row['outcome']}: {row['test']}  {str(row['detail'])[:200]}")
    complete = doc["audit_complete"]
    print(f"writes by the suite identity: {doc['writes']} (audit log complete: {complete})")
    for what, n in doc["writes_by_verb_resource"].items():  # type: ignore[attr-defined]
        print(f"  {n:6d}  {what}")
    outside = doc["outside_run"]
    print(f"writes outside the run: {len(outside)}")  # type: ignore[arg-type]
    for w in outside:  # type: ignore[attr-defined]
        print(f"  {w}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=["suites"], help="what pytest runs (suites)")
    ap.add_argument("--name", default="local", help="the local cluster's name")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M")
    ap.add_argument("--run-id", default=f"foreign-{stamp}")
    ap.add_argument("--results", type=Path, default=REPO / "results")
    ap.add_argument("--addons", default=",".join(ADDONS), help="comma-separated; '' for none")
    ap.add_argument("--no-strict", action="store_true", help="skips stay skips")
    ap.add_argument("--lock", help="a lock file held while the cluster is used")
    ap.add_argument("--pytest-arg", action="append", default=[], help="passed to pytest")
    ap.add_argument(
        "--keep", action="store_true", help="keep a cluster this run brought up running"
    )
    args = ap.parse_args(argv)
    wanted = tuple(a for a in args.addons.split(",") if a)
    unknown = sorted(set(wanted) - set(addons.REGISTRY))
    if unknown:
        ap.error(f"unknown add-on(s): {', '.join(unknown)}")
    try:
        with locked(args.lock), brought_up(args.name, keep=args.keep):
            env = prepare(args.name, wanted)
            layout = LocalCluster(args.name).layout
            deselect = [f"--deselect={d}" for d in DESELECT]
            for d in DESELECT:
                print(f"deselected (local cluster only, as its message says): {d}", flush=True)
            with standin_storage(admin_kubectl(args.name)):
                run = run_foreign(
                    layout, context_name(args.name), args.paths, args.results, args.run_id,
                    strict=not args.no_strict, extra=["-q", *deselect, *args.pytest_arg],
                    env=env, log=sys.stdout,
                )  # fmt: skip
    except (UserError, subprocess.CalledProcessError) as exc:
        print(f"foreign_suites: {exc}", file=sys.stderr)
        return 2
    doc = summary(run)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    (run.run_dir / "foreign.json").write_text(json.dumps(doc, indent=2) + "\n")
    show(doc)
    ok = run.returncode == 0 and run.audit.complete and not run.outside
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
