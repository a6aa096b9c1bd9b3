"""Running the calibration probes: Locust through :func:`run_load`, CPU use through psutil.

Each probe is one short open-loop run at a constant rate against an endpoint that must not be
the bottleneck (``servegate calibrate`` starts the simulator with fast tokens for it). The
generator's processes inherit this process's CPU affinity, so pinning this process before a
probe pins the Locust master and workers too.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from servegate.config.profile import Profile
from servegate.errors import UserError
from servegate.load import meta
from servegate.load.calibrate import (
    Criteria,
    SearchPlan,
    find_knee,
    next_rate,
    probe_result,
    timing_error_figures,
)
from servegate.load.calibration_file import (
    Calibration,
    CalibrationSettings,
    ProbeResult,
)
from servegate.load.cpu_wakeup import describe_idle
from servegate.load.runner import LoadOutcome, RunPlan, run_load
from servegate.metrics.clock import now_ns
from servegate.metrics.io import read_records
from servegate.metrics.record import RequestRecord

Launch = Callable[[RunPlan, Callable[[Any], None] | None], LoadOutcome]
"""What runs a probe's load: this machine's processes (``run_load``), or pods in a cluster
(servegate.harness.incluster, for bench/incluster_load.py)."""


@dataclass(frozen=True)
class Setup:
    """Request shape and timing of every probe."""

    prompt_tokens: int = 32
    output_tokens: int = 32
    step_duration_s: float = 4.0
    warmup_s: float = 1.0
    workers: int = 1
    timeout_s: float = 10.0


def choose_cores(workers: int) -> tuple[set[int], int] | None:
    """(generator cores, simulator core) when 2+ cores are usable, else None.

    One worker gets one core, as in the ceiling's definition; more workers share every core
    but the simulator's.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    gen = set(cpus[:-1]) if workers > 1 else {cpus[0]}
    return gen, cpus[-1]


@contextlib.contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """Pin this process (and so the children it starts) to ``cpus``; restore afterwards."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class CpuSampler:
    """Samples CPU time of the Locust workers and the simulator while a probe runs."""

    def __init__(self, sim_pid: int | None, workers: int | None = None) -> None:
        self.sim_pid = sim_pid
        self.expected = workers  # stop scanning for workers once this many were found
        self.samples: list[tuple[int, dict[int, float]]] = []  # (now_ns, pid -> cpu seconds)
        self._workers: dict[int, psutil.Process] = {}

    def _cpu(self, proc: psutil.Process) -> float | None:
        try:
            t = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return float(t.user + t.system)

    def poll(self, _progress: Any = None) -> None:
        me = psutil.Process()
        # Listing children reads every process in /proc (ms of CPU on the generator's core,
        # four times a second): skip it once every worker is known.
        found = self.expected is not None and len(self._workers) >= self.expected
        with contextlib.suppress(psutil.Error):
            for child in [] if found else me.children(recursive=True):
                if child.pid not in self._workers:
                    with contextlib.suppress(psutil.Error):
                        if "--worker" in child.cmdline():
                            self._workers[child.pid] = child
        cpu: dict[int, float] = {}
        procs = dict(self._workers)
        if self.sim_pid is not None:
            with contextlib.suppress(psutil.Error):
                procs[self.sim_pid] = psutil.Process(self.sim_pid)
        for pid, proc in procs.items():
            v = self._cpu(proc)
            if v is not None:
                cpu[pid] = v
        self.samples.append((now_ns(), cpu))

    def usage(self, start_ns: int, end_ns: int) -> tuple[float | None, float | None]:
        """(busiest worker, simulator) in cores over the samples inside the window."""
        inside = [s for s in self.samples if start_ns <= s[0] <= end_ns]
        if len(inside) < 2:
            return None, None
        (t0, a), (t1, b) = inside[0], inside[-1]
        secs = (t1 - t0) / 1e9
        if secs <= 0:
            return None, None
        rates = {pid: (b[pid] - a[pid]) / secs for pid in b if pid in a}
        sim = rates.pop(self.sim_pid, None) if self.sim_pid is not None else None
        gen = max(rates.values()) if rates else None
        return gen, sim


def probe_profile(rate: float, setup: Setup, duration_s: float) -> Profile:
    return Profile.model_validate(
        {
            "kind": "Profile",
            "name": "calibrate",
            "api": "chat",
            "model": "sim-model",
            "stream": True,
            "load": {"type": "open", "arrival": "constant"},
            "shape": {"type": "steady", "level": rate, "duration": setup.warmup_s + duration_s},
            "warmup": setup.warmup_s,
            "prompt": {"mean": setup.prompt_tokens},
            "output": {"mean": setup.output_tokens},
            "ignore_eos": True,
            "timeout": setup.timeout_s,
            "workers": setup.workers,
        }
    )


def run_probe(
    url: str,
    rate: float,
    setup: Setup,
    run_dir: Path,
    sim_pid: int | None,
    duration_s: float | None = None,
    launch: Launch = run_load,
) -> tuple[list[RequestRecord], tuple[int, int], int, CpuSampler]:
    """One open-loop run. Returns (records, measured window, dropped arrivals, CPU samples)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    profile = probe_profile(rate, setup, duration_s or setup.step_duration_s)
    sampler = CpuSampler(sim_pid, setup.workers)
    outcome = launch(RunPlan(profile, url, run_dir, setup.workers), sampler.poll)
    if outcome.interrupted:
        raise KeyboardInterrupt
    load = outcome.load
    if load is None or outcome.problems:
        raise UserError(
            f"calibration probe at {rate:g} req/s failed: {'; '.join(outcome.problems)}"
        )
    w = load.get("window") or {}
    window = (int(w.get("start_ns", load["start_ns"])), int(w.get("end_ns", load["end_ns"])))
    dropped = int((load.get("tally") or {}).get("dropped", 0))
    return list(read_records(run_dir)), window, dropped, sampler


def host_info() -> dict[str, str]:
    """The run metadata's host description, plus the CPU model and idle states it depends on."""
    return {**meta.host_info(), "cpu_model": _cpu_model(), "cpuidle": describe_idle()}


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def calibrate(
    url: str,
    work_dir: Path,
    setup: Setup,
    criteria: Criteria,
    plan: SearchPlan,
    sim_pid: int | None = None,
    pinned_cores: bool = False,
    on_probe: Callable[[ProbeResult], None] | None = None,
    cpu_dma_latency_us: int | None = None,
    launch: Launch = run_load,
) -> Calibration:
    """Search the ceiling, then measure the timing error at half of it.

    ``cpu_dma_latency_us`` only records the wake-up latency limit the caller holds;
    ``launch`` runs each probe (default: this machine's Locust processes).
    """
    probes: list[ProbeResult] = []
    load_before = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    idle_rps = max(1.0, plan.start_rps / 5)
    recs, window, _, _ = run_probe(url, idle_rps, setup, work_dir / "idle", sim_pid, None, launch)
    idle = probe_result(recs, idle_rps, window, 0, criteria)
    if idle.lag_p50_ms is None or idle.lag_p99_ms is None:
        raise UserError(f"the idle probe at {idle_rps:g} req/s sent nothing: {idle.reasons}")
    baseline = (idle.lag_p50_ms, idle.lag_p99_ms)
    if on_probe is not None:
        on_probe(idle.model_copy(update={"passed": True, "reasons": ["idle baseline"]}))
    while (rate := next_rate(probes, plan)) is not None:
        recs, window, dropped, cpu = run_probe(
            url, rate, setup, work_dir / f"probe-{len(probes)}", sim_pid, None, launch
        )
        gen_cpu, sim_cpu = cpu.usage(*window)
        res = probe_result(recs, rate, window, dropped, criteria, gen_cpu, sim_cpu, baseline)
        probes.append(res)
        if on_probe is not None:
            on_probe(res)
    knee = find_knee(probes, plan)
    notes: list[str] = []
    if knee.bound_by == "simulator":
        notes.append("the simulator saturated first: the ceiling is a lower bound")
    if knee.bound_by == "max_rate":
        notes.append(f"every probe up to --max-rate {plan.max_rps:g} passed: a lower bound")
    load = max(load_before, os.getloadavg()[0])
    if load > cores:
        notes.append(
            f"load average {load:.1f} exceeded the {cores} cores:"
            " other processes competed for the CPU, so the ceiling is pessimistic"
        )
    timing = None
    if knee.ceiling_rps > 0:
        half = knee.ceiling_rps / 2
        recs, window, _, _ = run_probe(
            url, half, setup, work_dir / "timing", sim_pid, setup.step_duration_s * 2, launch
        )
        start, end = window
        inside = [r for r in recs if r.scheduled_ns is not None and start <= r.scheduled_ns < end]
        timing = timing_error_figures(inside, half)
    workers = setup.workers
    return Calibration(
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        host=host_info(),
        workers=workers,
        ceiling_rps_per_worker=knee.ceiling_rps / workers,
        ceiling_chunks_per_s_per_worker=knee.ceiling_chunks_per_s / workers,
        bound_by=knee.bound_by,
        settings=CalibrationSettings(
            prompt_tokens=setup.prompt_tokens,
            output_tokens=setup.output_tokens,
            step_duration_s=setup.step_duration_s,
            min_achieved_ratio=criteria.min_achieved_ratio,
            lag_p50_limit_ms=criteria.lag_p50_limit_ms,
            lag_p99_limit_ms=criteria.lag_p99_limit_ms,
            idle_rps=idle_rps,
            idle_lag_p50_ms=baseline[0],
            idle_lag_p99_ms=baseline[1],
            pinned=pinned_cores,
            cpu_dma_latency_us=cpu_dma_latency_us,
        ),
        probes=probes,
        timing_error=timing,
        notes=notes,
    )


__all__ = ["CpuSampler", "Setup", "calibrate", "choose_cores", "pinned", "probe_profile"]
