"""`servegate calibrate`: measure this machine's load-generator ceiling and timing error.

Starts the simulator on loopback with fast tokens and ample concurrency (so it is not the
bottleneck), pins it and the generator to separate cores when there are two or more, steps
an open-loop rate until the generator falls behind, and writes the calibration file that
`servegate run` and the report use to flag figures taken past the ceiling.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

from servegate.errors import UserError
from servegate.load.calibrate import Criteria, SearchPlan
from servegate.load.calibration_file import (
    Calibration,
    ProbeResult,
    default_path,
    save_calibration,
)
from servegate.load.calibration_run import Setup, choose_cores, pinned
from servegate.load.calibration_run import calibrate as run_calibration
from servegate.load.cpu_wakeup import hold_wakeup_latency

# Fast enough that one simulator core outruns one generator core (checked per probe from the
# simulator's CPU use), with concurrency far above what the probes reach.
SIM_SETTINGS: dict[str, Any] = {
    "latency_model": "distribution",
    "ttft_mean_s": 0.001,
    "itl_mean_s": 0.0005,
    "max_num_seqs": 8192,
    "timestamps": True,
}


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def _probe_line(p: ProbeResult) -> str:
    verdict = "ok  " if p.passed else "FAIL"
    cpu = f"gen {_fmt(p.generator_cpu, '.0%')} sim {_fmt(p.simulator_cpu, '.0%')}"
    line = (
        f"  {verdict} target {p.target_rps:8.1f} req/s  sent {p.sent_rps:8.1f}"
        f"  chunks {p.chunks_per_s:9.0f}/s  lag p50 {_fmt(p.lag_p50_ms)} p99 {_fmt(p.lag_p99_ms)}"
        f" ms  {cpu}"
    )
    return line + (f"  ({'; '.join(p.reasons)})" if p.reasons else "")


def _summary(cal: Calibration, path: Path) -> str:
    lines = [
        f"ceiling per worker: {cal.ceiling_rps_per_worker:.1f} req/s,"
        f" {cal.ceiling_chunks_per_s_per_worker:.0f} chunks/s"
        f" ({cal.settings.output_tokens} tokens/request; limited by {cal.bound_by})",
    ]
    te = cal.timing_error
    if te is not None:
        lines.append(
            f"timing error at {te.rate_rps:.1f} req/s ({te.requests} requests):"
            f" |TTFT| p50 {_fmt(te.ttft_abs_p50_ms, '.3f')} p99 {_fmt(te.ttft_abs_p99_ms, '.3f')}"
            f" ms, |ITL gap| p50 {_fmt(te.gap_abs_p50_ms, '.3f')}"
            f" p99 {_fmt(te.gap_abs_p99_ms, '.3f')} ms"
        )
    lines += [f"note: {n}" for n in cal.notes]
    lines.append(f"wrote {path}")
    return "\n".join(lines)


def _shown(
    flag: str, kind: click.ParamType[Any, Any], default: float, help: str | None = None
) -> Callable[[FC], FC]:
    """An option whose default ``--help`` shows."""
    return click.option(flag, type=kind, default=default, show_default=True, help=help)


@click.command(name="calibrate")
@_shown(
    "--workers",
    click.IntRange(1, 64),
    1,
    "Locust worker processes; the ceiling is reported per worker.",
)
@_shown(
    "--duration",
    click.FloatRange(0.5, 600),
    4.0,
    "Measured seconds per probe (plus 1 s warm-up each).",
)
@click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Calibration file [default: $XDG_CACHE_HOME/servegate/calibration.json].",
)
@_shown(
    "--start-rate",
    click.FloatRange(1, None),
    25.0,
    "First probe, req/s (doubled until a probe fails, then bisected).",
)
@_shown("--max-rate", click.FloatRange(1, None), 20000.0)
@_shown("--max-probes", click.IntRange(1, 50), 12)
@_shown(
    "--tolerance",
    click.FloatRange(0.01, 0.5),
    0.1,
    "Stop bisecting when (fail - pass) / fail is below this.",
)
@_shown("--output-tokens", click.IntRange(1, 4096), 32)
@_shown("--prompt-tokens", click.IntRange(1, 4096), 32)
@_shown(
    "--lag-p50-ms",
    click.FloatRange(0.01, None),
    1.0,
    "Allowed growth of median send lag over the idle baseline.",
)
@_shown(
    "--lag-p99-ms",
    click.FloatRange(0.01, None),
    20.0,
    "Allowed growth of p99 send lag over the idle baseline.",
)
@_shown(
    "--min-achieved",
    click.FloatRange(0.5, 1.0),
    0.95,
    "Sent / target rate below this fails a probe.",
)
@click.option(
    "--pin/--no-pin",
    default=True,
    show_default=True,
    help="Pin simulator and generator to separate cores (needs 2+ cores).",
)
@click.option(
    "--cpu-dma-latency",
    "cpu_dma_latency",
    type=click.IntRange(0, None),
    default=None,
    metavar="US",
    help="Hold this CPU wake-up latency limit (/dev/cpu_dma_latency, needs root) while"
    " measuring; 0 keeps idle cores polling. Recorded in the file; released at the end."
    "  [default: not held]",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep each probe's records and logs in this directory.",
)
def calibrate(
    workers: int,
    duration: float,
    output: Path | None,
    start_rate: float,
    max_rate: float,
    max_probes: int,
    tolerance: float,
    output_tokens: int,
    prompt_tokens: int,
    lag_p50_ms: float,
    lag_p99_ms: float,
    min_achieved: float,
    pin: bool,
    cpu_dma_latency: int | None,
    keep: Path | None,
) -> None:
    """Measure the load generator's ceiling per worker process and its timing error."""
    if start_rate > max_rate:
        raise click.BadParameter("must not exceed --max-rate", param_hint="--start-rate")
    setup = Setup(prompt_tokens, output_tokens, duration, 1.0, workers)
    criteria = Criteria(min_achieved, lag_p50_ms, lag_p99_ms)
    plan = SearchPlan(start_rate, max_rate, tolerance, max_probes)
    try:
        _calibrate(setup, criteria, plan, output, pin, keep, cpu_dma_latency)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None


def _calibrate(
    setup: Setup,
    criteria: Criteria,
    plan: SearchPlan,
    output: Path | None,
    pin: bool,
    keep: Path | None,
    cpu_dma_latency: int | None = None,
) -> None:
    from servegate.sim.process import SimProcess  # the CLI may import sim; load may not

    workers = setup.workers
    cores = choose_cores(workers) if pin else None
    path = output if output is not None else default_path()
    try:  # fail before minutes of probing, not after
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path}: cannot write calibration: {exc.strerror or exc}") from None
    if path.is_dir():
        raise UserError(f"{path}: cannot write calibration: is a directory")
    if cores is None and pin:
        click.echo("note: fewer than 2 usable cores; generator and simulator are not pinned")
    gen_cpus, sim_cpu = cores if cores is not None else (None, None)
    with tempfile.TemporaryDirectory(prefix="servegate-calibrate-") as tmp:
        work = keep if keep is not None else Path(tmp)
        with SimProcess(cpu=sim_cpu, **SIM_SETTINGS) as sim:
            assert sim.proc is not None
            click.echo(
                f"simulator {sim.base_url} (core {sim_cpu if sim_cpu is not None else 'any'}),"
                f" generator cores {sorted(gen_cpus) if gen_cpus else 'any'}, {workers} worker(s)"
            )
            with pinned(gen_cpus), hold_wakeup_latency(cpu_dma_latency) as held:
                if held is not None:
                    click.echo(f"holding CPU wake-up latency limit {held} us until the end")
                try:
                    cal = run_calibration(
                        sim.base_url,
                        work,
                        setup,
                        criteria,
                        plan,
                        sim_pid=sim.proc.pid,
                        pinned_cores=cores is not None,
                        on_probe=lambda p: click.echo(_probe_line(p)),
                        cpu_dma_latency_us=cpu_dma_latency,
                    )
                except KeyboardInterrupt:
                    raise UserError("calibration interrupted; no file written") from None
    if cal.ceiling_rps_per_worker <= 0:
        raise UserError(
            f"no probe passed, down to {min(p.target_rps for p in cal.probes):g} req/s:"
            " the generator cannot keep even that pace on this machine; no file written"
        )
    try:
        written = save_calibration(cal, path)
    except OSError as exc:
        raise UserError(f"{path}: cannot write calibration: {exc.strerror or exc}") from None
    click.echo(_summary(cal, written))
