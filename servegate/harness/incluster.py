"""A run's load sent from pods in the cluster, next to the endpoint (``--sg-load-from``).

From outside a cluster the only way in may be ``kubectl port-forward``: one tunnel through
the API server, which caps the rate a benchmark can send and adds its own delay to every
timing. So on a cluster this machine cannot route into, a run's Locust master and workers
run as pods in the namespace of the Service under test (servegate.k8s.loadpods): nothing in
the cluster has to reach this machine. The run directory (load.json, progress, the
workers' records) is read back when the master ends, also when the run is interrupted (the
master is stopped the way a local one is, and writes its files first); the pods' logs go to
the run's ``logs/``. Every pod and Secret carries the run's scope labels and is deleted at
the end, and the namespace is the run's own.

Each worker pod's ceiling is measured once per session and cluster: a calibration pod with
a worker pod's resources runs ``servegate calibrate`` against a simulator of its own. The
run records the ceiling (per pod times pods, in run.json, so figures past it are flagged as
for local workers) and the calibration file itself (``generator-calibration.json``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from servegate.config.headers import references
from servegate.config.headers import resolve as resolve_headers
from servegate.errors import UserError
from servegate.harness.cluster import ServiceURL
from servegate.k8s import loadpods
from servegate.k8s.client import ClusterError
from servegate.load.calibration_file import Calibration
from servegate.load.runner import (
    END_GRACE_S,
    LOAD_FILE,
    PROGRESS_FILE,
    LoadOutcome,
    RunPlan,
    master_args,
    read_json,
    worker_args,
)
from servegate.wait import poll

MODES = ("auto", "host", "cluster")
POD_START_S = 180.0  # scheduling and (on a real cluster) pulling the image
STOP_GRACE_S = 20.0  # a stopped master tells the workers to finish and writes its files
POLL_S = 1.0
PROGRESS_EVERY_S = 5.0  # each read is an exec through the API server
CALIBRATION_ARGS = ("--duration", "2", "--max-probes", "8")
CALIBRATION_TIMEOUT_S = 600.0
CALIBRATION_FILE = "generator-calibration.json"

Progress = Callable[[dict[str, Any]], None]


def choose(setting: str, prefer: str | None, url: str) -> ServiceURL | None:
    """The Service whose cluster sends the load, or None: this machine sends it.

    ``setting`` is the user's (``--sg-load-from``); with ``auto``, a check's ``prefer``
    decides (a small smoke check keeps the port-forward), else the cluster sends the load
    when this machine cannot route into it."""
    if setting not in MODES:
        raise UserError(f"--sg-load-from {setting!r}: expected one of {', '.join(MODES)}")
    target = url if isinstance(url, ServiceURL) else None
    mode = setting if setting != "auto" else (prefer or "auto")
    if mode == "auto":
        routes = target is None or target.handle.routes_to_services
        mode = "host" if routes else "cluster"
    if mode == "host":
        return None
    if target is None:
        raise UserError(
            f"--sg-load-from cluster: {url} is not a Service of the run's cluster; only a"
            " deployed Service's load can be sent from inside the cluster"
        )
    return target


@dataclass(frozen=True)
class PodCalibration:
    calibration: Calibration
    node: str
    text: str  # the file as the calibration pod wrote it


_CALIBRATIONS: dict[tuple[str, str, str], PodCalibration] = {}
_CALIBRATING = threading.Lock()


def _short(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "no output"


def calibrate_worker_pod(target: ServiceURL) -> PodCalibration:
    """The ceiling of one worker pod on this cluster: measured on the first call of the
    session, by a calibration pod in ``target``'s namespace, then reused."""
    handle = target.handle
    key = (handle.kubeconfig, handle.context, loadpods.LOAD_IMAGE)
    with _CALIBRATING:
        if key in _CALIBRATIONS:
            return _CALIBRATIONS[key]
        core, ns = handle.client.core, target.namespace
        name = f"load-{secrets.token_hex(3)}-calibrate"
        pod = loadpods.calibration_pod(
            name, ns, handle.scope.labels(), list(CALIBRATION_ARGS), handle.container_nodes
        )
        core.create_namespaced_pod(ns, pod)
        try:

            def ended() -> Any:
                p = core.read_namespaced_pod(name, ns)
                return p if p.status.phase in ("Succeeded", "Failed") else None

            done = poll(ended, CALIBRATION_TIMEOUT_S, 2.0)
            if done is None:
                raise ClusterError(_not_started(target, name, "calibration pod"))
            log = str(core.read_namespaced_pod_log(name, ns, container="calibrate"))
            text = loadpods.calibration_text(log)
            if done.status.phase != "Succeeded" or text is None:
                raise UserError(f"in-cluster calibration pod {ns}/{name} failed: {_short(log)}")
            cal = Calibration.model_validate_json(text)
            result = PodCalibration(cal, str(done.spec.node_name or "?"), text)
        finally:
            _delete(handle, ns, "pod", name)
        _CALIBRATIONS[key] = result
        return result


def _not_started(target: ServiceURL, name: str, what: str) -> str:
    from servegate.k8s.deploy import pod_problems

    problems = "; ".join(pod_problems(target.handle.client, target.namespace)[:2]) or "no event"
    return (
        f"{what} {target.namespace}/{name} did not run ({problems}); image"
        f" {loadpods.LOAD_IMAGE} (SERVEGATE_LOAD_IMAGE: one your nodes can pull)"
    )


def _delete(handle: Any, ns: str, kind: str, name: str) -> None:
    from kubernetes.client.exceptions import ApiException

    core = handle.client.core
    with contextlib.suppress(ApiException):
        if kind == "pod":
            core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
        else:
            core.delete_namespaced_secret(name, ns)


@dataclass
class InClusterLoad:
    """A launcher (servegate.cli.run.Launcher) that runs the plan's load in ``target``'s
    cluster; ``calibrate=False`` leaves the ceiling unmeasured (and unrecorded)."""

    target: ServiceURL
    calibrate: bool = True

    def __call__(self, plan: RunPlan, on_progress: Progress | None = None) -> LoadOutcome:
        return run_in_cluster(self.target, plan, on_progress, self.calibrate)


class _Run:
    """The pods of one in-cluster run and what was learnt about them."""

    def __init__(self, target: ServiceURL, plan: RunPlan) -> None:
        self.target, self.plan = target, plan
        self.handle = target.handle
        self.core = self.handle.client.core
        self.ns = target.namespace
        self.token = secrets.token_hex(3)
        self.labels = {**self.handle.scope.labels(), loadpods.LOAD_RUN_LABEL: self.token}
        self.master = f"load-{self.token}-master"
        self.workers = [f"load-{self.token}-w{i}" for i in range(plan.workers)]
        self.secret: str | None = None
        self.nodes: set[str] = set()
        self.problems: list[str] = []

    def exec(self, container: str, argv: list[str], timeout_s: float = 30.0) -> str:
        pod = self.master
        return loadpods.exec_output(self.handle.client, self.ns, pod, container, argv, timeout_s)

    def start(self, secret_values: dict[str, str]) -> None:
        nodes = self.handle.container_nodes
        if secret_values:
            self.secret = f"load-{self.token}-env"
            self.core.create_namespaced_secret(
                self.ns, loadpods.env_secret(self.secret, self.ns, self.labels, secret_values)
            )
        args = master_args(
            self.plan, "0.0.0.0", loadpods.MASTER_PORT, loadpods.RESULTS_DIR, POD_START_S
        )
        self.core.create_namespaced_pod(
            self.ns, loadpods.master_pod(self.master, self.ns, self.labels, args, nodes)
        )

        def address() -> str | None:
            p = self.core.read_namespaced_pod(self.master, self.ns)
            if p.status.phase == "Failed":
                raise ClusterError(f"load master pod {self.ns}/{self.master} failed to start")
            running = loadpods.container_state(p, "keeper")[0] == "running"
            return str(p.status.pod_ip) if running and p.status.pod_ip else None

        ip = poll(address, POD_START_S, 0.5)
        if ip is None:
            raise ClusterError(_not_started(self.target, self.master, "load master pod"))
        for i, name in enumerate(self.workers):
            pod = loadpods.worker_pod(
                name,
                self.ns,
                self.labels,
                f"w{i}",
                worker_args(ip, loadpods.MASTER_PORT),
                self.secret,
                tuple(sorted(secret_values)),
                nodes,
            )
            self.core.create_namespaced_pod(self.ns, pod)

    def watch(self, on_progress: Progress | None) -> None:
        """Until the master ends, a worker fails, or the deadline passes."""
        deadline = time.monotonic() + self.plan.profile.max_duration + POD_START_S + END_GRACE_S
        last_progress = time.monotonic()
        selector = f"{loadpods.LOAD_RUN_LABEL}={self.token}"
        while True:
            pods = self.core.list_namespaced_pod(self.ns, label_selector=selector).items
            for p in pods:
                if p.metadata.name in self.workers and p.spec.node_name:
                    self.nodes.add(str(p.spec.node_name))
                if p.metadata.name in self.workers and p.status.phase == "Failed":
                    self.problems.append(f"worker pod {p.metadata.name} failed; see logs/")
                if p.metadata.name == self.master:
                    state, code = loadpods.container_state(p, "master")
                    if state == "terminated":
                        if code:
                            self.problems.append(f"the Locust master exited with code {code}")
                        return
            if self.problems:
                return
            if time.monotonic() > deadline:
                self.problems.append("the Locust master overran its deadline and was stopped")
                return
            if on_progress is not None and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                with contextlib.suppress(Exception):  # a progress read is optional
                    text = self.exec("keeper", ["cat", f"{loadpods.RESULTS_DIR}/{PROGRESS_FILE}"])
                    on_progress(orjson.loads(text))
            time.sleep(POLL_S)

    def stop_master(self) -> None:
        """SIGTERM, as for a local master: it ends the run, collects the workers' last
        records and writes load.json; then wait for it to exit."""

        def ended() -> bool:
            p = self.core.read_namespaced_pod(self.master, self.ns)
            return loadpods.container_state(p, "master")[0] != "running"

        with contextlib.suppress(Exception):
            if ended():
                return
            self.exec("master", ["sh", "-c", "kill -TERM 1"], 10.0)
            poll(ended, STOP_GRACE_S, 0.5)

    def collect(self) -> None:
        """The run directory (from the keeper) and every pod's log, into the run dir."""
        run_dir = self.plan.run_dir
        try:
            text = self.exec("keeper", loadpods.pack_command(), 300.0)
            loadpods.unpack(text, run_dir)
        except Exception as exc:  # the API server, the pod or the archive: say which
            self.problems.append(f"the run directory was not read back: {type(exc).__name__}")
        logs = run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for pod, container, out in [
            (self.master, "master", "master.log"),
            *[(w, "worker", f"worker-{i}.log") for i, w in enumerate(self.workers)],
        ]:
            with contextlib.suppress(Exception):
                log = self.core.read_namespaced_pod_log(pod, self.ns, container=container)
                (logs / out).write_text(str(log))

    def delete(self) -> None:
        for name in [self.master, *self.workers]:
            _delete(self.handle, self.ns, "pod", name)
        if self.secret is not None:
            _delete(self.handle, self.ns, "secret", self.secret)


def header_environment(plan: RunPlan) -> dict[str, str]:
    """The variables the profile's headers refer to, from this process's environment (one
    line for an unset one): the workers get them from a Secret of the run."""
    resolve_headers(plan.profile.headers, os.environ)
    names = {n for v in plan.profile.headers.values() for n in references(v)}
    return {n: os.environ[n] for n in sorted(names)}


def run_in_cluster(
    target: ServiceURL,
    plan: RunPlan,
    on_progress: Progress | None = None,
    calibrate: bool = True,
) -> LoadOutcome:
    """Run ``plan`` with its workers (local and remote alike) as worker pods."""
    if plan.profile.prepared:
        raise UserError(
            "a dataset or trace profile runs with this machine's workers (--sg-load-from host)"
        )
    env = header_environment(plan)
    pods = max(1, plan.workers + plan.remote_workers)
    plan = dataclasses.replace(plan, url=target.in_cluster, workers=pods, remote_workers=0)
    (plan.run_dir / "records").mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    cal: PodCalibration | None = None
    if calibrate:
        try:
            cal = calibrate_worker_pod(target)
        except ClusterError:
            raise
        except UserError as exc:  # the run is still worth having, without a ceiling
            problems.append(str(exc))
    run = _Run(target, plan)
    interrupted = False
    try:
        run.start(env)
        run.watch(on_progress)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        run.stop_master()
        run.collect()
        run.delete()
    problems += run.problems
    load = read_json(plan.run_dir / LOAD_FILE)
    if load is None:
        problems.append("the Locust master wrote no load.json; see logs/master.log")
    generator = {
        "generator": "in-cluster",
        "generator_pods": str(pods),
        "generator_nodes": ",".join(sorted(run.nodes)) or "?",
        "generator_image": loadpods.LOAD_IMAGE,
        "endpoint_in_cluster": target.in_cluster,
    }
    ceiling = None
    if cal is not None:
        per_pod = cal.calibration.ceiling_rps_per_worker
        ceiling = per_pod * pods
        generator["generator_ceiling_per_pod"] = f"{per_pod:.1f} req/s"
        generator["generator_calibrated_on"] = cal.node
        (plan.run_dir / CALIBRATION_FILE).write_text(cal.text + "\n")
    return LoadOutcome(
        load=load,
        interrupted=interrupted,
        problems=problems,
        ceiling_rps=ceiling,
        generator=generator,
    )


__all__ = ["InClusterLoad", "PodCalibration", "calibrate_worker_pod", "choose", "run_in_cluster"]
