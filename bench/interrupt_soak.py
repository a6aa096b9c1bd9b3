#!/usr/bin/env python
"""Interrupt soak: interrupt the suites at random moments and count what each interrupt left.

Each trial starts ``pytest suites ...`` (the smoke slice or the GPU conformance slice) on the
local cluster, waits a random time (or for a moment named in ``--plan``), and delivers one of
SIGINT, SIGTERM or SIGKILL to pytest, or SIGKILL to one of its Locust load workers. When
pytest has exited, it counts what is left: servegate's namespaces and cluster-scoped objects
whose creating process is gone (every cluster-scoped kind the API serves, found by discovery,
not by the sweep's own list), the run's processes still alive, and the host's mounts,
network namespaces, interfaces, iptables rules, cgroups and files under the cluster's state
directory that were not there before the trial (servegate.cluster.hostcheck.footprint). It
checks that the interrupted run's results directory kept an index and its records. Then the
recovery, the next ordinary run (``--recovery``), and the same count again: it must be zero.

Trials run in batches: the lock (``--lock``, the shared cluster's) is taken, the cluster
brought up, trials run back to back for ``--batch-minutes``, then the cluster is taken down,
the host compared with the snapshot taken before the first trial (``after down``), and the
lock released so that others can use the cluster in between. Within a batch each trial's
counts are against the host as it was just before that trial. A local cluster that already
runs when the soak starts (an e2e session's) is used and left running, without the
comparison after ``down``.

    python bench/interrupt_soak.py --trials 20 --seed 1412 --lock /tmp/sg-cluster.lock
    python bench/interrupt_soak.py --plan smoke:SIGKILL:namespace,smoke:SIGINT:load --json

Exit status 1 when any recovery (or any ``down``) left something, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from servegate.cluster.controlplane import context_name  # noqa: E402
from servegate.cluster.hostcheck import Footprint, footprint  # noqa: E402
from servegate.cluster.kind.dockerhost import state_dir as docker_state_dir  # noqa: E402
from servegate.cluster.local import LocalCluster  # noqa: E402
from servegate.k8s.render import kubectl_binary  # noqa: E402
from servegate.k8s.scope import (  # noqa: E402
    MANAGED_BY,
    OWNER_LABEL,
    RUN_LABEL,
    creator_alive,
    owner,
)

PY = sys.executable
SLICES = {
    "smoke": ["suites", "-m", "smoke"],
    "conformance": ["suites/conformance/gpu", "-m", "conformance"],
}
RECOVERIES = {
    # the next ordinary run: the shortest check that uses the cluster
    "short": ["suites/conformance/gpu/test_gpu_advertised.py", "-m", "conformance"],
    "smoke": SLICES["smoke"],
    "sweep": [
        "suites/conformance/gpu/test_gpu_advertised.py",
        "-m",
        "conformance",
        "--sweep-orphans",
    ],
}
SIGNALS = ("SIGINT", "SIGTERM", "SIGKILL", "SIGKILL-worker")
MOMENTS = ("namespace", "load")  # the run's namespace exists; a load worker runs
# How long after its start a slice can be interrupted: about its length on the 2-core
# machine (the smoke slice ~80 s, the GPU conformance slice ~48 s, 2026-12-04); a signal due
# after the run ended is recorded as such.
MAX_DELAY_S = {"smoke": 80.0, "conformance": 48.0}
EXIT_TIMEOUT_S = 600.0  # pytest's teardown after SIGINT/SIGTERM; past it: hung, killed
SETTLE_S = 180.0  # deletions finishing (namespaces, pods, veths, kube-proxy's rules)
DOCKER_ROOT = docker_state_dir()  # a kind cluster's Docker daemon may run beside: not counted


@dataclass
class Trial:
    slice: str
    signal: str
    at: str  # seconds after the start ("12.3"), or a moment of MOMENTS
    index: int = 0
    run_id: str = ""
    delivered_s: float | None = None  # seconds after the start, None if the run ended first
    target: str = ""
    exit_code: int | None = None
    hung: bool = False
    after_interrupt: dict[str, list[str]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    recovery_exit: int | None = None
    recovery_swept: list[str] = field(default_factory=list)
    after_recovery: dict[str, list[str]] = field(default_factory=dict)
    after_down: dict[str, list[str]] | None = None  # the last trial of a batch
    seconds: float = 0.0
    seen: list[str] = field(default_factory=list)  # run processes alive after the recovery

    @property
    def leaked(self) -> bool:
        return bool(self.after_recovery) or bool(self.after_down) or self.hung


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the plan -----------------------------------------------------------------------------


def random_plan(n: int, seed: int, which: str) -> list[Trial]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sl = which if which != "both" else ("smoke", "conformance")[i % 2]
        # only the smoke slice runs load workers
        sig = rng.choice(SIGNALS if sl == "smoke" else SIGNALS[:3])
        at = "load" if sig == "SIGKILL-worker" else f"{rng.uniform(0.0, MAX_DELAY_S[sl]):.1f}"
        out.append(Trial(sl, sig, at))
    return out


def parse_plan(text: str) -> list[Trial]:
    out = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) != 3:
            raise SystemExit(f"--plan: {item!r} is not SLICE:SIGNAL:MOMENT")
        sl, sig, at = parts
        if sl not in SLICES or sig not in SIGNALS:
            raise SystemExit(f"--plan: {item!r}: slice {sorted(SLICES)}, signal {SIGNALS}")
        if at not in MOMENTS:
            try:
                float(at)
            except ValueError:
                raise SystemExit(f"--plan: {item!r}: moment is seconds or {MOMENTS}") from None
        if sig == "SIGKILL-worker" and at != "load":
            raise SystemExit(f"--plan: {item!r}: a worker is killed at the moment 'load'")
        out.append(Trial(sl, sig, at))
    return out


# -- the cluster --------------------------------------------------------------------------


def servegate(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "servegate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def kubectl(lc: LocalCluster, *args: str) -> str:
    argv = [str(kubectl_binary()), "--kubeconfig", str(lc.layout.admin_kubeconfig)]
    argv += ["--context", context_name(lc.name), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def cluster_scoped_kinds(lc: LocalCluster) -> list[str]:
    out = kubectl(lc, "api-resources", "--namespaced=false", "--verbs=list", "-o", "name")
    return sorted(set(out.split()))


def servegate_objects(lc: LocalCluster, kinds: list[str]) -> dict[str, list[str]]:
    """servegate's namespaces and cluster-scoped objects of this owner whose creator is not a
    live process on this host (``dead``), or that say nothing of their creator (``unknown``)."""
    if not lc.running():
        return {}
    selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]},{OWNER_LABEL}={owner()}"
    try:
        items = json.loads(kubectl(lc, "get", ",".join(kinds), "-l", selector, "-o", "json"))
        items = items.get("items", [])
    except RuntimeError:  # an aggregated API not answering: each kind on its own
        items = []
        for kind in kinds:
            try:
                doc = json.loads(kubectl(lc, "get", kind, "-l", selector, "-o", "json"))
            except RuntimeError as exc:
                log(f"  not counted: {kind}: {str(exc)[-120:]}")
                continue
            items += doc.get("items", [])
    host = socket.gethostname()
    out: dict[str, list[str]] = {}
    for item in items:
        meta = item["metadata"]
        alive = creator_alive(meta.get("annotations") or {}, host)
        if alive:
            continue
        kind = "namespaces" if item["kind"] == "Namespace" else "cluster-scoped"
        run = (meta.get("labels") or {}).get(RUN_LABEL, "?")
        state = "unknown creator" if alive is None else "dead run"
        out.setdefault(kind, []).append(f"{item['kind']}/{meta['name']} ({state} {run})")
    return out


def terminating(lc: LocalCluster) -> bool:
    doc = json.loads(kubectl(lc, "get", "ns", "-l", "=".join(MANAGED_BY), "-o", "json"))
    return any(i.get("status", {}).get("phase") == "Terminating" for i in doc["items"])


def run_namespace_exists(lc: LocalCluster, run_id: str) -> bool:
    try:
        return bool(kubectl(lc, "get", "ns", "-l", f"{RUN_LABEL}={run_id}", "-o", "name").strip())
    except RuntimeError:
        return False


# -- one trial ----------------------------------------------------------------------------


@dataclass
class Tracked:
    pid: int
    created: float
    cmd: str

    def alive(self) -> bool:
        try:
            p = psutil.Process(self.pid)
            return p.create_time() == self.created and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def descendants(pid: int, seen: dict[int, Tracked]) -> None:
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for k in kids:
        with contextlib.suppress(psutil.Error):
            if k.pid not in seen:
                seen[k.pid] = Tracked(k.pid, k.create_time(), " ".join(k.cmdline())[:160])


def load_worker(seen: dict[int, Tracked]) -> Tracked | None:
    for t in seen.values():
        if "locust" in t.cmd and "--worker" in t.cmd and t.alive():
            return t
    return None


def pytest_argv(args: list[str], results: Path, run_id: str) -> list[str]:
    return [
        PY,
        "-m",
        "pytest",
        *args,
        "-p",
        "no:cacheprovider",
        "-q",
        "--results",
        str(results),
        "--run-id",
        run_id,
    ]


def interrupt(trial: Trial, lc: LocalCluster, results: Path, logs: Path) -> dict[int, Tracked]:
    """Start the slice, deliver the signal at the trial's moment, wait for pytest's exit."""
    argv = pytest_argv(SLICES[trial.slice], results, trial.run_id)
    seen: dict[int, Tracked] = {}
    with (logs / f"{trial.run_id}.log").open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    start = time.monotonic()
    last_ns_check = 0.0
    worker_at: float | None = None
    rng = random.Random(trial.run_id)
    while proc.poll() is None:
        descendants(proc.pid, seen)
        now = time.monotonic() - start
        target: int | None = None
        if trial.at == "namespace":
            if now - last_ns_check >= 1.0:
                last_ns_check = now
                if run_namespace_exists(lc, trial.run_id):
                    target = proc.pid
        elif trial.at == "load":
            worker = load_worker(seen)
            if worker is not None and worker_at is None:
                worker_at = now + rng.uniform(0.0, 10.0)  # somewhere in the load run
            if worker is not None and worker_at is not None and now >= worker_at:
                target = worker.pid if trial.signal == "SIGKILL-worker" else proc.pid
        elif now >= float(trial.at):
            target = proc.pid
        if target is not None:
            sig = signal.SIGKILL if trial.signal.startswith("SIGKILL") else trial.signal
            os.kill(target, signal.Signals[sig] if isinstance(sig, str) else sig)
            trial.delivered_s = round(now, 1)
            trial.target = "pytest" if target == proc.pid else f"worker {target}"
            log(f"  {trial.signal} to {trial.target} at {now:.1f} s")
            break
        time.sleep(0.2)
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        descendants(proc.pid, seen)
        time.sleep(0.2)
    if proc.poll() is None:
        trial.hung = True
        proc.kill()
    trial.exit_code = proc.wait()
    return seen


def count(
    lc: LocalCluster, kinds: list[str], before: Footprint, seen: dict[int, Tracked]
) -> dict[str, list[str]]:
    left = servegate_objects(lc, kinds)
    live = [f"{t.pid} {t.cmd}" for t in seen.values() if t.alive()]
    if live:
        left["run processes"] = live
    left.update(footprint(lc.state, DOCKER_ROOT).leftovers(before))
    return left


def settled(
    lc: LocalCluster, kinds: list[str], before: Footprint, seen: dict[int, Tracked], limit_s: float
) -> dict[str, list[str]]:
    """The count once pending deletions have finished, or after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        left = count(lc, kinds, before, seen)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(2.0)


def results_of(results: Path, run_id: str) -> dict[str, Any]:
    """What the interrupted run's results directory kept."""
    root = results / run_id
    if not root.is_dir():
        return {"dir": False}
    record_files = [p for p in root.rglob("records/*") if p.is_file()]
    runs = {p.parent.parent for p in record_files}
    try:
        status = json.loads((root / "index.json").read_text()).get("status", "?")
    except (OSError, ValueError):
        status = "no index"
    return {
        "dir": True,
        "status": status,
        "index": (root / "index.md").is_file() and (root / "index.json").is_file(),
        "record_files": len(record_files),
        "load_runs": len(runs),
        "load_runs_with_report": sum((r / "report.md").is_file() for r in runs),
    }


def recover(trial: Trial, how: str, results: Path, logs: Path) -> None:
    # -s: the sweep's notes on stderr are shown, not captured
    argv = [*pytest_argv(RECOVERIES[how], results, trial.run_id + "-recovery"), "-s"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1800)
    (logs / f"{trial.run_id}-recovery.log").write_text(proc.stdout + proc.stderr)
    trial.recovery_exit = proc.returncode
    # "servegate: removed Namespace/x, left by a dead run", "servegate: stopped y pid N, ..."
    trial.recovery_swept = [
        line.split(": ", 1)[-1].split(", left by", 1)[0].split(" ", 1)[-1]
        for line in (proc.stdout + proc.stderr).splitlines()
        if ", left by a dead run" in line
    ]


@contextlib.contextmanager
def locked(path: str | None) -> Iterator[float]:
    """Hold ``path``'s flock (the shared cluster's lock); yields the seconds waited."""
    if not path:
        yield 0.0
        return
    t0 = time.monotonic()
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - t0
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cluster_up(lc: LocalCluster) -> None:
    if lc.running():
        return
    up = servegate("cluster", "up")
    if up.returncode != 0:
        raise SystemExit(f"servegate cluster up failed: {up.stderr.strip()[-400:]}")


def cluster_down(lc: LocalCluster) -> None:
    down = servegate("cluster", "down", timeout=300)
    if down.returncode != 0:
        log(f"servegate cluster down failed: {down.stderr.strip()[-300:]}")


def warm_up(out: Path, name: str) -> None:
    """One ordinary run on a cluster just brought up: the state its first pod creates once
    (kube-proxy's first full sync, the QoS cgroups, CNI's last-reserved-IP file) is then
    part of the host before the first trial, not counted as that trial's leftover. The
    smoke slice, whatever ``--recovery`` says: the short recovery starts no pod on the real
    node, so a warm-up with it left that state to the first trial (the 2026-12-04 evening
    soak, trials 1 and 16)."""
    warm = Trial("", "", "", run_id=name)
    recover(warm, "smoke", out, out / "logs")
    if warm.recovery_exit != 0:
        raise SystemExit(f"the warm-up run failed ({warm.recovery_exit}): see {out}/logs")


def run_trial(trial: Trial, args: argparse.Namespace, out: Path) -> None:
    lc = LocalCluster("local")
    t0 = time.monotonic()
    kinds = cluster_scoped_kinds(lc)
    before = footprint(lc.state, DOCKER_ROOT)
    seen = interrupt(trial, lc, out, out / "logs")
    trial.after_interrupt = settled_after_interrupt(lc, kinds, before, seen)
    trial.results = results_of(out, trial.run_id)
    recover(trial, args.recovery, out, out / "logs")
    trial.after_recovery = settled(lc, kinds, before, seen, SETTLE_S)
    trial.seconds = round(time.monotonic() - t0, 1)
    trial.seen = [f"{t.pid} {t.cmd}" for t in seen.values() if t.alive()]


def settled_after_interrupt(
    lc: LocalCluster, kinds: list[str], before: Footprint, seen: dict[int, Tracked]
) -> dict[str, list[str]]:
    """Right after the interrupt; if the run was deleting its namespaces (a teardown), once
    those deletions have finished and the host has followed (or 20 s more have passed)."""
    deadline = time.monotonic() + SETTLE_S
    waited = False
    while lc.running() and terminating(lc) and time.monotonic() < deadline:
        waited = True
        time.sleep(2.0)
    return settled(lc, kinds, before, seen, 20.0 if waited else 0.0)


# -- output -------------------------------------------------------------------------------


def counts(left: dict[str, list[str]] | None) -> str:
    if not left:
        return "0"
    return " ".join(f"{k}={len(v)}" for k, v in sorted(left.items()))


def table(trials: list[Trial]) -> str:
    rows = [
        "| # | slice | signal | moment | delivered (s) | exit | left after interrupt "
        "| results kept | swept by recovery | left after recovery | left after down | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in trials:
        r = t.results
        kept = (
            "no dir"
            if not r.get("dir")
            else (
                f"index {r['status'] if r['index'] else 'NO'}, {r['record_files']} record files, "
                f"{r['load_runs_with_report']}/{r['load_runs']} load runs with report"
            )
        )
        delivered = "ended first" if t.delivered_s is None else f"{t.delivered_s} ({t.target})"
        rows.append(
            f"| {t.index} | {t.slice} | {t.signal} | {t.at} | {delivered} | {t.exit_code}"
            f"{' HUNG' if t.hung else ''} | {counts(t.after_interrupt)} | {kept} "
            f"| {len(t.recovery_swept)} | {counts(t.after_recovery)} "
            f"| {'-' if t.after_down is None else counts(t.after_down)} | {t.seconds} |"
        )
    return "\n".join(rows)


def totals(trials: list[Trial]) -> dict[str, Any]:
    def summed(attr: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in trials:
            for k, v in (getattr(t, attr) or {}).items():
                out[k] = out.get(k, 0) + len(v)
        return out

    return {
        "trials": len(trials),
        "interrupted": sum(t.delivered_s is not None for t in trials),
        "hung": sum(t.hung for t in trials),
        "left_after_interrupt": summed("after_interrupt"),
        "trials_with_leftovers_after_interrupt": sum(bool(t.after_interrupt) for t in trials),
        "left_after_recovery": summed("after_recovery"),
        "left_after_down": summed("after_down"),
        "trials_leaking": sum(t.leaked for t in trials),
        "results_without_index": sum(
            bool(t.results.get("dir")) and not t.results.get("index") for t in trials
        ),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None, help="default: drawn and printed")
    ap.add_argument("--slice", choices=("smoke", "conformance", "both"), default="both")
    ap.add_argument("--plan", help="SLICE:SIGNAL:MOMENT,... instead of random trials")
    ap.add_argument("--recovery", choices=sorted(RECOVERIES), default="short")
    ap.add_argument(
        "--batch-minutes",
        type=float,
        default=20.0,
        help="trials run back to back, the cluster kept up, until this long has passed; then "
        "the cluster goes down and the lock is released (0: one trial per batch)",
    )
    ap.add_argument("--lock", help="flock this file around each batch (the shared cluster lock)")
    ap.add_argument("--out", type=Path, help="default results/interrupt-soak/<time>")
    ap.add_argument("--json", action="store_true", help="print the trials as JSON on stdout")
    args = ap.parse_args()
    # A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored
    # across exec: pytest would never see the soak's SIGINT (found in the first soak, whose
    # SIGINT trials ran to their end). Python's own handler here, so children get the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.trials < 1:
        ap.error("--trials must be at least 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    trials = parse_plan(args.plan) if args.plan else random_plan(args.trials, seed, args.slice)
    stamp = time.strftime("%Y%m%dt%H%M%Sz", time.gmtime())  # run ids are lowercase
    out = (args.out or REPO / "results" / "interrupt-soak" / stamp).resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    log(f"seed {seed}; {len(trials)} trials; results in {out}")
    lc = LocalCluster("local")
    pending = list(enumerate(trials, 1))
    preexisting: bool | None = None
    h0 = Footprint({})
    batch = 0
    while pending:
        # a batch: the lock held and the cluster up for trials until --batch-minutes have
        # passed, then the cluster down (compared with the host before the first trial) and
        # the lock released, so that others can use the cluster in between
        with locked(args.lock) as waited:
            batch += 1
            log(f"batch {batch}: lock after {waited:.0f} s")
            if preexisting is None:
                # a cluster that already runs (an e2e session's) is used and left running:
                # no comparison after down then
                preexisting = lc.running()
                if preexisting:
                    log("a local cluster runs already: used and left running")
                h0 = footprint(lc.state, DOCKER_ROOT)
            start = time.monotonic()
            cluster_up(lc)
            warm_up(out, f"soak-warm-{stamp}-{batch}")
            while pending and time.monotonic() - start < args.batch_minutes * 60:
                i, trial = pending.pop(0)
                trial.index = i
                trial.run_id = f"soak{seed}-{i:02d}" if not args.plan else f"soak-{stamp}-{i:02d}"
                log(f"trial {i}: {trial.slice} {trial.signal} at {trial.at}")
                run_trial(trial, args, out)
                log(
                    f"  after interrupt: {counts(trial.after_interrupt)}; "
                    f"after recovery: {counts(trial.after_recovery)}"
                )
            if preexisting:
                continue
            cluster_down(lc)
            trial.after_down = footprint(lc.state, DOCKER_ROOT).leftovers(h0)
            if trial.seen:
                trial.after_down["run processes"] = trial.seen
            log(f"  after down: {counts(trial.after_down)}")
    doc = {
        "seed": seed,
        "plan": args.plan,
        "slice": args.slice,
        "recovery": args.recovery,
        "batch_minutes": args.batch_minutes,
        "host": socket.gethostname(),
        "trials": [asdict(t) | {"leaked": t.leaked} for t in trials],
        "totals": totals(trials),
    }
    (out / "soak.json").write_text(json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(table(trials))
        print(json.dumps(doc["totals"]))
    return 1 if any(t.leaked for t in trials) else 0


if __name__ == "__main__":
    sys.exit(main())
