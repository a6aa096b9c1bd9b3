"""Load-generator ceiling per worker process: servegate vs guidellm, side by side in one run.

    .venv/bin/python bench/loadgen_ceiling.py [--repeats 3] [--duration 3] [--max-probes 12]

Both generators drive the same simulator (started once, fast tokens, pinned to the last
core) with streaming chat at constant open-loop rates, each with its whole process tree
pinned to the same single core (servegate: Locust master + 1 worker; guidellm: main process
+ 1 worker process). For each the same search runs (servegate.load.calibrate: double the
rate until a probe fails, confirm the failure with a second probe at that rate, then
bisect), with the same pass rule: sent >= 95% of target, no errors, and send lag (actual
minus scheduled start) p50 / p99 no more than 5 / 20 ms above that tool's own lag at an
idle 5 req/s, measured before each search. The two searches alternate order per repeat.
Prints the ceiling (req/s and chunks/s) per repeat, median, spread and ratio (goal: >= 2x).

Then servegate's timing error at half its median ceiling: client minus server TTFT and chunk
gap, against the simulator's own timestamps (goal: p99 |error| <= 1 ms). guidellm's report
carries no server timestamps, so it has no such figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]

from peer_guidellm import OUT, guidellm_requests, peer_missing, run_guidellm  # noqa: E402

from servegate.cli.calibrate import SIM_SETTINGS  # noqa: E402
from servegate.load.calibrate import (  # noqa: E402
    Criteria,
    SearchPlan,
    find_knee,
    next_rate,
    probe_result,
    timing_error_figures,
)
from servegate.load.calibration_file import ProbeResult  # noqa: E402
from servegate.load.calibration_run import Setup, pinned, run_probe  # noqa: E402
from servegate.metrics.record import ErrorKind, RequestRecord  # noqa: E402

Probe = Callable[[float, tuple[float, float]], ProbeResult]


def guidellm_records(doc: dict[str, Any]) -> tuple[list[RequestRecord], float]:
    """guidellm's requests as records (only what the pass rule reads), and its t0 (s)."""
    t0 = float(doc["benchmarks"][0]["scheduler_state"]["start_requests_time"])
    out: list[RequestRecord] = []
    for r in guidellm_requests(doc):
        t = r["info"]["timings"]
        start, target = t.get("request_start"), t.get("targeted_start")
        if start is None or target is None:
            continue  # never sent
        n = int(t.get("token_iterations") or 0)
        out.append(
            RequestRecord(
                request_id=str(r["request_id"]),
                api="chat",
                stream=True,
                sent_ns=int(start * 1e9),
                end_ns=int((t.get("request_end") or start) * 1e9),
                scheduled_ns=int(target * 1e9),
                chunks=[(0, 1)] * n,
                # "incomplete": still in flight when the run ended; sent, not a failure
                error=ErrorKind.CLIENT if r["_kind"] == "errored" else None,
            )
        )
    return out, t0


def search(probe: Probe, plan: SearchPlan, baseline: tuple[float, float]) -> list[ProbeResult]:
    probes: list[ProbeResult] = []
    while (rate := next_rate(probes, plan)) is not None:
        res = probe(rate, baseline)
        probes.append(res)
        mark = "ok  " if res.passed else "FAIL"
        print(
            f"    {mark} {rate:8.1f} req/s  sent {res.sent_rps:8.1f}  lag p50"
            f" {res.lag_p50_ms or 0:.2f} p99 {res.lag_p99_ms or 0:.2f} ms"
            + (f"  ({'; '.join(res.reasons)})" if res.reasons else ""),
            flush=True,
        )
    return probes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0, help="measured seconds per probe")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--max-probes", type=int, default=12)
    ap.add_argument("--start-rate", type=float, default=25.0)
    ap.add_argument("--tolerance", type=float, default=0.15)
    ap.add_argument("--lag-p50-ms", type=float, default=5.0, help="allowed growth over idle")
    ap.add_argument("--output-tokens", type=int, default=32)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    args = ap.parse_args()
    if (missing := peer_missing()) is not None:
        print(f"skipped: {missing}")
        return 0
    from servegate.sim.process import SimProcess

    cpus = sorted(os.sched_getaffinity(0))
    gen = {cpus[0]} if len(cpus) >= 2 else None
    sim_cpu = cpus[-1] if len(cpus) >= 2 else None
    setup = Setup(args.prompt_tokens, args.output_tokens, args.duration, args.warmup, 1)
    # guidellm's idle lag moves by several ms from run to run: a 1 ms allowance on the median
    # would fail it at any rate, so both tools get 5 ms here.
    crit = Criteria(lag_p50_limit_ms=args.lag_p50_ms)
    plan = SearchPlan(args.start_rate, 20000.0, args.tolerance, args.max_probes)
    idle_rps = max(1.0, args.start_rate / 5)
    OUT.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f};"
        f" generator core {sorted(gen) if gen else 'any'}, simulator core {sim_cpu};"
        f" {args.output_tokens} output tokens/request, one per chunk; {args.duration:g} s"
        f" per probe after {args.warmup:g} s warm-up",
        flush=True,
    )
    results: dict[str, list[dict[str, Any]]] = {"servegate": [], "guidellm": []}
    with SimProcess(cpu=sim_cpu, **SIM_SETTINGS) as sim, tempfile.TemporaryDirectory() as tmp:
        assert sim.proc is not None
        url, pid = sim.base_url, sim.proc.pid
        counter = iter(range(10**6))

        def sg_probe(rate: float, baseline: tuple[float, float]) -> ProbeResult:
            with pinned(gen):
                recs, window, dropped, cpu = run_probe(
                    url, rate, setup, Path(tmp) / f"sg-{next(counter)}", pid
                )
            g, s = cpu.usage(*window)
            return probe_result(recs, rate, window, dropped, crit, g, s, baseline)

        def gl_probe(rate: float, baseline: tuple[float, float]) -> ProbeResult:
            doc = run_guidellm(
                url,
                Path(tmp) / f"gl-{next(counter)}.json",
                duration=args.duration,
                prompt_tokens=args.prompt_tokens,
                output_tokens=args.output_tokens,
                rate=rate,
                warmup=args.warmup,
                cpus=gen,
            )
            recs, t0 = guidellm_records(doc)
            start = int((t0 + args.warmup) * 1e9)
            window = (start, start + int(args.duration * 1e9))
            return probe_result(recs, rate, window, 0, crit, baseline=baseline)

        tools: dict[str, Probe] = {"servegate": sg_probe, "guidellm": gl_probe}
        for rep in range(args.repeats):
            order = list(tools) if rep % 2 == 0 else list(reversed(tools))
            for name in order:
                idle = tools[name](idle_rps, (0.0, 0.0))  # each search gets a fresh baseline
                baseline = (idle.lag_p50_ms or 0.0, idle.lag_p99_ms or 0.0)
                print(
                    f"repeat {rep + 1}, {name} (idle lag at {idle_rps:g} req/s: p50"
                    f" {baseline[0]:.2f} p99 {baseline[1]:.2f} ms):",
                    flush=True,
                )
                probes = search(tools[name], plan, baseline)
                knee = find_knee(probes, plan)
                results[name].append(
                    {
                        "ceiling_rps": knee.ceiling_rps,
                        "ceiling_chunks_per_s": knee.ceiling_chunks_per_s,
                        "bound_by": knee.bound_by,
                        "probes": [p.model_dump() for p in probes],
                    }
                )
                print(
                    f"  ceiling {knee.ceiling_rps:.1f} req/s, {knee.ceiling_chunks_per_s:.0f}"
                    f" chunks/s ({knee.bound_by})",
                    flush=True,
                )
        med = {n: statistics.median(r["ceiling_rps"] for r in rs) for n, rs in results.items()}
        timing = None
        if med["servegate"] > 0:
            half = med["servegate"] / 2
            with pinned(gen):
                recs, (a, b), _, _ = run_probe(
                    url, half, setup, Path(tmp) / "timing", pid, args.duration * 3
                )
            inside = [r for r in recs if r.scheduled_ns is not None and a <= r.scheduled_ns < b]
            timing = timing_error_figures(inside, half)
    print("\nceiling per worker process (one core each), req/s and chunks/s:")
    for name, rs in results.items():
        rps = [r["ceiling_rps"] for r in rs]
        cps = [r["ceiling_chunks_per_s"] for r in rs]
        print(
            f"  {name:9} median {statistics.median(rps):8.1f} req/s (min {min(rps):.1f},"
            f" max {max(rps):.1f}; runs {', '.join(f'{x:.1f}' for x in rps)});"
            f" median {statistics.median(cps):9.0f} chunks/s"
        )
    ratio = med["servegate"] / med["guidellm"] if med["guidellm"] > 0 else float("inf")
    verdict = "met" if ratio >= 2 else "NOT met"
    print(f"  ratio servegate / guidellm: {ratio:.2f}x (goal >= 2x: {verdict})")
    if timing is not None:
        worst = max(timing.ttft_abs_p99_ms or 9.0, timing.gap_abs_p99_ms or 9.0)
        print(
            f"timing error at {timing.rate_rps:.1f} req/s ({timing.requests} requests):"
            f" |TTFT| p50 {timing.ttft_abs_p50_ms or 0:.3f} p99 {timing.ttft_abs_p99_ms or 0:.3f}"
            f" ms; |ITL gap| p50 {timing.gap_abs_p50_ms or 0:.3f}"
            f" p99 {timing.gap_abs_p99_ms or 0:.3f} ms (goal p99 <= 1 ms:"
            f" {'met' if worst <= 1 else 'NOT met'})"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    doc = {"results": results, "timing_error": timing.model_dump() if timing else None}
    (OUT / "loadgen_ceiling.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
