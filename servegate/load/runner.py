"""Start a Locust master and N workers as subprocesses, watch them, and clean up by PID.

This module runs in the CLI or pytest process and never imports Locust or gevent: Locust
monkey-patches whatever process imports it. The children talk to each other over ZeroMQ on
loopback (or on ``master_bind`` for workers on other machines); the master rewrites
``progress.json`` twice a second, which :func:`run_load` reads for the live display.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from servegate.config.headers import REVEAL
from servegate.config.headers import resolve as resolve_headers
from servegate.config.profile import (
    ClosedLoop,
    Profile,
    Ramp,
    SloSearch,
    Soak,
    Spike,
    Stages,
    Steady,
    Sweep,
)
from servegate.errors import UserError
from servegate.load.endpoint import check_reachable
from servegate.load.workload import WORKLOAD_FILE, prepare
from servegate.procs import end, launch, tied

LOCUSTFILE = str(Path(__file__).with_name("locustfile.py"))
PROGRESS_FILE = "progress.json"
LOAD_FILE = "load.json"
START_GRACE_S = 30.0  # workers connecting, users spawning
END_GRACE_S = 30.0  # finishing, byes, files


@dataclass
class RunPlan:
    profile: Profile
    url: str
    run_dir: Path
    workers: int
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    master_port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    workload: Path | None = None  # prepared items (data set, trace), set by run_load


@dataclass
class LoadOutcome:
    load: dict[str, Any] | None  # load.json, None if the master never wrote it
    interrupted: bool
    problems: list[str]
    workload: dict[str, str] = field(default_factory=dict)  # what was sent, who counted
    # Where the generator ran and what it can drive, when not this machine's processes
    # (in-cluster pods: servegate.harness.incluster); None: this machine's calibration.
    ceiling_rps: float | None = None
    generator: dict[str, str] = field(default_factory=dict)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def max_users_per_worker(profile: Profile, workers: int) -> int:
    """Largest closed-loop user count one worker can get (Locust spreads users evenly)."""
    shape = profile.shape
    if not isinstance(profile.load, ClosedLoop):
        return 1
    if isinstance(shape, Sweep):
        top = shape.stop
    elif isinstance(shape, SloSearch):
        top = shape.high
    elif isinstance(shape, Steady | Soak):
        top = shape.level
    elif isinstance(shape, Ramp):
        top = max(shape.start, shape.end)
    elif isinstance(shape, Stages):
        top = max(s.level for s in shape.stages)
    elif isinstance(shape, Spike):
        top = max(shape.base, shape.peak)
    else:  # a replay runs open loop
        return 1
    return max(1, math.ceil(top / workers))


def config_json(plan: RunPlan) -> str:
    """The run's configuration as every Locust process of it reads it (``--sg-config``)."""
    doc = {
        # header values as written (${env:NAME} references): each worker resolves its own
        "profile": plan.profile.model_dump(mode="json", context=REVEAL),
        "url": plan.url,
        "workload": str(plan.workload) if plan.workload is not None else None,
        "workers": plan.workers + plan.remote_workers,
        "max_users_per_worker": max_users_per_worker(
            plan.profile, plan.workers + plan.remote_workers
        ),
    }
    return orjson.dumps(doc).decode()


def _locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--loglevel", "INFO", *args]


def worker_args(master_host: str, master_port: int) -> list[str]:
    """A Locust worker's own arguments (after ``-f locustfile --loglevel INFO``)."""
    return ["--worker", "--master-host", master_host, "--master-port", str(master_port)]


def worker_argv(master_host: str, master_port: int) -> list[str]:
    return _locust(*worker_args(master_host, master_port))


def master_args(
    plan: RunPlan, bind: str, port: int, run_dir: str, expect_wait_s: float = START_GRACE_S
) -> list[str]:
    """A headless Locust master's own arguments (after ``-f locustfile --loglevel INFO``),
    for the workers of ``plan`` (local and remote), writing its files to ``run_dir``."""
    return [
        "--master",
        "--headless",
        "--only-summary",
        "--expect-workers",
        str(plan.workers + plan.remote_workers),
        "--expect-workers-max-wait",
        str(int(expect_wait_s)),
        "--master-bind-host",
        bind,
        "--master-bind-port",
        str(port),
        "--host",
        plan.url,
        "--sg-config",
        config_json(plan),
        "--sg-run-dir",
        run_dir,
    ]


class Children:
    """Child processes started by this run, ended by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # In its own session: Ctrl-C reaches us only, and we stop the children in order.
        # Tied to this process: a run killed before it could stop them has them stopped by
        # the next run (servegate.procs.sweep_orphans).
        p = launch(name, argv, self.log_dir / f"{name}.log", tied(env))
        self.procs[name] = p
        return p

    def stop(self, name: str, grace: float) -> None:
        p = self.procs.get(name)
        if p is not None:
            end(p, grace)

    def stop_all(self, grace: float = 5.0) -> None:
        for name in list(self.procs):
            self.stop(name, grace)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def run_load(
    plan: RunPlan,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> LoadOutcome:
    """Run the profile; returns when the master has exited (or was stopped).

    Raises :class:`UserError` if the endpoint is unreachable, before any process starts.
    KeyboardInterrupt stops the children gracefully and returns with ``interrupted=True``.
    """
    check_reachable(plan.url, min(plan.profile.timeout, 5.0))
    if plan.profile.prepared and plan.remote_workers:
        raise UserError("a dataset or trace profile runs with local workers only (--workers)")
    prepared = prepare(plan.profile, plan.url, plan.run_dir)
    if prepared.items:
        plan.workload = plan.run_dir / WORKLOAD_FILE
        if len(prepared.items) < plan.workers:
            raise UserError(
                f"{len(prepared.items)} prepared prompts for {plan.workers} workers: use fewer"
            )
    records = plan.run_dir / "records"
    logs = plan.run_dir / "logs"
    records.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    port = plan.master_port or free_port(plan.master_bind)
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1", **plan.extra_env}
    base_env.pop("SERVEGATE_RECORDS_DIR", None)
    resolve_headers(plan.profile.headers, base_env)  # an unset variable: one line, no process
    children = Children(logs)
    problems: list[str] = []
    interrupted = False
    try:
        master = children.start(
            "master",
            _locust(*master_args(plan, plan.master_bind, port, str(plan.run_dir))),
            base_env,
        )
        for i in range(plan.workers):
            env = {
                **base_env,
                "SERVEGATE_WORKER_NAME": f"w{i}",
                "SERVEGATE_RECORDS_DIR": str(records),
            }
            connect = "127.0.0.1" if plan.master_bind in ("0.0.0.0", "*") else plan.master_bind
            children.start(f"worker-{i}", worker_argv(connect, port), env)
        deadline = time.monotonic() + plan.profile.max_duration + START_GRACE_S + END_GRACE_S
        while master.poll() is None:
            if time.monotonic() > deadline:
                problems.append("the master overran its deadline and was stopped")
                break
            for name, p in children.procs.items():
                if name != "master" and p.poll() not in (None, 0):
                    problems.append(f"{name} exited with code {p.returncode}; see logs/{name}.log")
            if problems:
                break
            if on_progress is not None and (doc := read_json(plan.run_dir / PROGRESS_FILE)):
                on_progress(doc)
            time.sleep(0.25)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # master first: its quit handler writes load.json and tells the workers to stop
        children.stop("master", grace=10.0)
        children.stop_all(grace=5.0)
    load = read_json(plan.run_dir / LOAD_FILE)
    if load is None:
        problems.append("the Locust master wrote no load.json; see logs/master.log")
    if master.returncode not in (0, None) and not interrupted and load is None:
        problems.append(f"the Locust master exited with code {master.returncode}")
    return LoadOutcome(
        load=load, interrupted=interrupted, problems=problems, workload=prepared.description
    )


def run_remote_worker(master_host: str, master_port: int, name: str | None = None) -> int:
    """Run one worker for a master on another machine; records are shipped to the master."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SERVEGATE_RECORDS_DIR", None)
    if name:
        env["SERVEGATE_WORKER_NAME"] = name
    p = subprocess.Popen(worker_argv(master_host, master_port), env=env, start_new_session=True)
    try:
        return p.wait()
    except KeyboardInterrupt:
        return end(p, grace=10.0)


__all__ = ["LoadOutcome", "RunPlan", "UserError", "run_load", "run_remote_worker"]
