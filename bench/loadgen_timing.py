"""Load-generator timing error at a fixed rate: client minus server TTFT and chunk gap.

    .venv/bin/python bench/loadgen_timing.py [--rate 500] [--repeats 3] [--duration 8]
        [--idle-rate 25] [--compare-tree DIR] [--cpu-dma-latency US] [--no-idle]
        [--rt-priority N]

Each probe is one open-loop `run_probe` (calibration's probe: 1 s warm-up, streaming chat,
32 one-token chunks) with the generator pinned to the first core, run in a child process so
that each can import servegate from a different source tree; it talks to a simulator (fast
tokens, server timestamps, pinned to the last core) started from that same tree, so
``--compare-tree`` compares old client and server against new ones. Per repeat, in
alternating order: this tree at ``--rate``; this tree at ``--idle-rate`` (the baseline: the
same path with almost no load); with ``--compare-tree`` (a copy or `git worktree` of an
older state) that tree at ``--rate``; with ``--cpu-dma-latency US`` this tree at both rates
while this process holds that CPU wake-up latency limit (servegate.load.cpu_wakeup: with 0,
idle cores poll instead of halting; released after each such probe). Prints |error|
p50/p99 per probe with the TTFT error's two one-way legs (out: client send to simulator
receive; back: simulator emit to client arrival), then median and range per variant
(goal: p99 <= 1 ms at half the ceiling).

Other processes on the machine delay wake-ups of the generator and the simulator alike and
show up in the p99: the load average is printed at the start and the end of every probe.
``--rt-priority N`` (root) runs this process and so every simulator, Locust master and
worker it starts under SCHED_FIFO priority N: a diagnostic that shields the comparison from
other jobs on a shared machine (they still get the CPU time the generator leaves, and at
least the kernel's RT throttling share). Figures taken with it are not what a normal run
sees; say so when quoting them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("ttft_abs_p50_ms", "ttft_abs_p99_ms", "gap_abs_p50_ms", "gap_abs_p99_ms")


def child(args: argparse.Namespace) -> int:
    """One probe in this process (servegate imported from PYTHONPATH); prints one JSON line."""
    from servegate.load.calibrate import timing_error_figures
    from servegate.load.calibration_run import Setup, pinned, run_probe

    cpus = sorted(os.sched_getaffinity(0))
    gen = {cpus[0]} if len(cpus) >= 2 else None
    setup = Setup(32, 32, args.duration, 1.0, 1)
    load0 = os.getloadavg()[0]
    with pinned(gen):
        recs, (a, b), dropped, cpu = run_probe(
            args.url, args.rate, setup, Path(args.run_dir), args.sim_pid
        )
    inside = [r for r in recs if r.scheduled_ns is not None and a <= r.scheduled_ns < b]
    fig = timing_error_figures(inside, args.rate)
    g, s = cpu.usage(a, b)
    out = fig.model_dump()
    out.update(dropped=dropped, gen_cpu=g, sim_cpu=s, load=(load0, os.getloadavg()[0]))
    out.update(legs(inside))
    print(orjson.dumps(out).decode(), flush=True)
    return 0


def legs(recs: list[Any]) -> dict[str, float | None]:
    """The TTFT error split into its two one-way legs (one host, one monotonic clock).

    out: the server's receive stamp minus the client's send stamp (request building, loopback,
    the simulator's wake-up and parse); back: the client's first-chunk stamp minus the server's
    emit stamp (loopback, the generator's wake-up, HTTP and SSE parsing).
    """
    out_ms, back_ms = [], []
    for r in recs:
        if r.error is None and r.chunks and r.server_recv_ns and r.server_first_ns:
            out_ms.append((r.server_recv_ns - r.sent_ns) / 1e6)
            back_ms.append((r.sent_ns + r.chunks[0][0] - r.server_first_ns) / 1e6)
    from servegate.metrics.stats import percentile

    res: dict[str, float | None] = {}
    for name, vals in (("out", out_ms), ("back", back_ms)):
        vals.sort()
        for q in (50, 99):
            res[f"{name}_p{q}_ms"] = percentile(vals, q / 100) if vals else None
    return res


def probe(tree: Path, url: str, pid: int, rate: float, duration: float, run_dir: Path) -> Any:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--url", url]
    argv += ["--sim-pid", str(pid), "--rate", str(rate), "--duration", str(duration)]
    argv += ["--run-dir", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # cwd outside both trees, so `python -m locust` finds servegate through PYTHONPATH only
    proc = subprocess.run(
        argv, env=env, cwd=run_dir.parent, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"probe failed ({tree}):\n{proc.stderr[-2000:]}")
    return orjson.loads(proc.stdout.strip().splitlines()[-1])


def fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--idle-rate", type=float, default=25.0)
    ap.add_argument("--duration", type=float, default=8.0, help="measured seconds per probe")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare-tree", type=Path, default=None)
    ap.add_argument(
        "--cpu-dma-latency",
        type=int,
        default=None,
        metavar="US",
        help="add variants run while holding this wake-up latency limit (0: idle CPUs poll)",
    )
    ap.add_argument("--no-idle", action="store_true", help="skip the idle-rate baseline")
    ap.add_argument(
        "--rt-priority",
        type=int,
        default=None,
        metavar="N",
        help="run everything under SCHED_FIFO priority N (diagnostic on a busy machine)",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    ap.add_argument("--sim-pid", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.compare_tree is not None and not (args.compare_tree / "servegate").is_dir():
        raise SystemExit(f"--compare-tree {args.compare_tree}: no servegate/ package there")
    from servegate.cli.calibrate import SIM_SETTINGS
    from servegate.load.cpu_wakeup import describe_idle, hold_wakeup_latency
    from servegate.sim.process import SimProcess

    if args.rt_priority is not None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.rt_priority))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"--rt-priority {args.rt_priority}: {exc}") from None
    cpus = sorted(os.sched_getaffinity(0))
    sim_cpu = cpus[-1] if len(cpus) >= 2 else None
    # (name, tree, rate, wake-up latency limit held during the probe)
    qos = args.cpu_dma_latency
    variants: list[tuple[str, Path, float, int | None]] = [("this", ROOT, args.rate, None)]
    if not args.no_idle:
        variants.append(("this-idle", ROOT, args.idle_rate, None))
    if args.compare_tree is not None:
        variants.append(("compare", args.compare_tree.resolve(), args.rate, None))
    if qos is not None:
        variants.append(("this+qos", ROOT, args.rate, qos))
        if not args.no_idle:
            variants.append(("idle+qos", ROOT, args.idle_rate, qos))
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f};"
        f" generator core {cpus[0]}, simulator core {sim_cpu}; {args.duration:g} s per probe",
        flush=True,
    )
    print(f"cpuidle: {describe_idle()}", flush=True)
    if args.rt_priority is not None:
        print(f"every process runs under SCHED_FIFO priority {args.rt_priority}", flush=True)
    if qos is not None:
        print(f"'+qos' variants hold /dev/cpu_dma_latency = {qos} us during the probe", flush=True)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _, _ in variants}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        os.chdir(tmp)  # `python -m servegate` must not find a servegate/ in the cwd
        # each tree's probes go to that tree's own simulator: old client against old server
        sims: dict[Path, Any] = {}
        for tree in {v[1] for v in variants}:
            env = {**os.environ, "PYTHONPATH": str(tree)}
            sims[tree] = stack.enter_context(SimProcess(cpu=sim_cpu, env=env, **SIM_SETTINGS))
        n = 0
        for rep in range(args.repeats):
            order = variants if rep % 2 == 0 else list(reversed(variants))
            for name, tree, rate, limit in order:
                n += 1
                sim = sims[tree]
                with hold_wakeup_latency(limit):
                    r = probe(
                        tree, sim.base_url, sim.proc.pid, rate, args.duration, Path(tmp) / str(n)
                    )
                results[name].append(r)
                print(
                    f"  {name:9} {rate:6.0f} req/s  n={r['requests']:5d}  |TTFT| p50"
                    f" {fmt(r['ttft_abs_p50_ms'])} p99 {fmt(r['ttft_abs_p99_ms'])} ms  |gap|"
                    f" p50 {fmt(r['gap_abs_p50_ms'])} p99 {fmt(r['gap_abs_p99_ms'])} ms  gen"
                    f" {fmt(r['gen_cpu'], '.0%')} sim {fmt(r['sim_cpu'], '.0%')}  load"
                    f" {r['load'][0]:.2f}->{r['load'][1]:.2f}  out p50/p99"
                    f" {fmt(r.get('out_p50_ms'))}/{fmt(r.get('out_p99_ms'))} back"
                    f" {fmt(r.get('back_p50_ms'))}/{fmt(r.get('back_p99_ms'))}",
                    flush=True,
                )
    print("\nmedian (min-max) over repeats, ms:")
    for name, rs in results.items():
        parts = []
        for f in FIELDS:
            vals = [r[f] for r in rs if r[f] is not None]
            if vals:
                parts.append(
                    f"{f.replace('_abs', '').replace('_ms', '')} {statistics.median(vals):.3f}"
                    f" ({min(vals):.3f}-{max(vals):.3f})"
                )
        print(f"  {name:9} " + "  ".join(parts))
    worst = statistics.median(
        max(r["ttft_abs_p99_ms"] or 1e9, r["gap_abs_p99_ms"] or 1e9) for r in results["this"]
    )
    print(f"goal p99 <= 1 ms at {args.rate:g} req/s: {'met' if worst <= 1 else 'NOT met'}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
