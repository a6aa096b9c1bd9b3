"""``servegate run``: drive a load profile against an endpoint (or the simulator) and report.

Locust runs in child processes (see servegate.load.runner); this process only watches
``progress.json``, shows it live, and writes run.json and the report at the end, also after
Ctrl-C or a crashed worker, from whatever records were written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from servegate.config.base import load_yaml_file
from servegate.config.profile import Profile
from servegate.errors import UserError
from servegate.load.endpoint import check_reachable
from servegate.load.meta import build_run_meta, new_run_id
from servegate.load.runner import LoadOutcome, RunPlan, run_load, run_remote_worker
from servegate.load.server_metrics import ServerSampler, endpoint_scrape
from servegate.metrics.run_meta import write_run_meta

PROMETHEUS_INTERVAL_S = 5.0

Launcher = Callable[[RunPlan, Callable[[dict[str, Any]], None] | None], LoadOutcome]
"""What runs the load of a plan: this machine's processes (``run_load``), or another
(in-cluster pods: servegate.harness.incluster)."""


@dataclass(frozen=True)
class ServerMetrics:
    """Where the run reads the server's metrics: the endpoint's own /metrics (``auto``),
    another URL, the cluster's Prometheus (``prometheus`` URL and a label ``selector``), or
    nowhere (``off``)."""

    where: str = "auto"
    prometheus: str | None = None
    selector: str = ""
    interval_s: float = 1.0

    def sampler(self, base_url: str, run_dir: Path) -> contextlib.AbstractContextManager[Any]:
        if self.prometheus:
            from servegate.k8s.prometheus import Prometheus, vllm_scrape

            # Prometheus itself scrapes every few seconds: asking more often shows nothing new.
            every = max(self.interval_s, PROMETHEUS_INTERVAL_S)
            prom = Prometheus(self.prometheus, timeout_s=every)
            src = f"prometheus {prom.url} {self.selector}".rstrip()
            return ServerSampler(vllm_scrape(prom, self.selector), run_dir, src, every)
        if self.where == "off":
            return contextlib.nullcontext()
        url = f"{base_url}/metrics" if self.where == "auto" else self.where
        return ServerSampler(endpoint_scrape(url), run_dir, url, self.interval_s)


@contextlib.contextmanager
def _endpoint(url: str | None, sim: bool, model: str, adapters: str = "") -> Iterator[str]:
    """The URL given, or a simulator's serving ``model`` (and ``adapters``, a mix's others)."""
    if (url is None) == (not sim):
        raise UserError("give exactly one of --url URL or --sim")
    if url is not None:
        yield url.rstrip("/")
        return
    from servegate.sim.process import SimProcess  # only when asked for

    with SimProcess(timestamps=True, model_name=model, lora_modules=adapters) as proc:
        yield proc.base_url


class _Live:
    """Rich progress bar fed from the master's progress.json."""

    def __init__(self, console: Console, total: float) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[stats]}"),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("load", total=total, stats="starting")
        self._last: tuple[float, int] | None = None
        self._rate = 0.0

    def __call__(self, doc: dict[str, Any]) -> None:
        now, done = time.monotonic(), int(doc.get("done", 0))
        if self._last is not None and now - self._last[0] >= 1.0:
            self._rate = (done - self._last[1]) / (now - self._last[0])
            self._last = (now, done)
        elif self._last is None:
            self._last = (now, done)
        unmeasured = "" if doc.get("measuring") else " (unmeasured)"
        stats = (
            f"done {done}  errors {doc.get('error_total', 0)}  dropped {doc.get('dropped', 0)}"
            f"  {self._rate:.1f} req/s  in flight {doc.get('in_flight', 0)}"
            f"  level {float(doc.get('level', 0)):g}{unmeasured}"
        )
        self.progress.update(self.task, completed=float(doc.get("elapsed_s", 0.0)), stats=stats)


def execute(
    profile_path: Path,
    url: str | None,
    sim: bool,
    slo_ref: str | None,
    results: Path,
    workers: int | None,
    master_bind: str,
    remote_workers: int,
    console: Console,
    server_metrics: ServerMetrics | None = None,
    launcher: Launcher = run_load,
) -> tuple[Path, LoadOutcome, Any]:
    """Run one profile end to end. Returns (run dir, load outcome, summary or None).

    With ``repeats: N`` (N > 1) the run directory holds one run directory per repeat
    (``r0`` ... with seeds seed, seed+1, ...) and ``repeats.json``; the summary returned is
    the last repeat's."""
    profile = load_yaml_file(profile_path, Profile).resolved(profile_path.parent)
    slo = None
    if slo_ref:
        from servegate.config.slo import load_slo

        slo = load_slo(slo_ref)
    n_workers = workers if workers is not None else profile.workers
    if n_workers + remote_workers < 1:
        raise UserError("--workers 0 needs --remote-workers N")
    host, _, port = master_bind.partition(":")
    run_id = new_run_id(profile.name)
    run_dir = results / run_id
    sm = server_metrics or ServerMetrics()
    adapters = ",".join(m.name for m in profile.models if m.name != profile.model)
    with _endpoint(url, sim, profile.model, adapters) as base_url:
        check_reachable(base_url, min(profile.timeout, 5.0))  # before anything is written
        run_dir.mkdir(parents=True, exist_ok=False)
        shutil.copyfile(profile_path, run_dir / "profile.yaml")
        plan = RunPlan(
            profile=profile,
            url=base_url,
            run_dir=run_dir,
            workers=n_workers,
            remote_workers=remote_workers,
            master_bind=host or "127.0.0.1",
            master_port=int(port) if port else 0,
        )
        if profile.repeats > 1:
            return _repeats(plan, run_id, slo, sm, console, launcher)
        outcome = _load(plan, run_id, sm, console, launcher)
    return run_dir, outcome, _finish(plan, run_id, outcome, slo, console)


def _load(
    plan: RunPlan, run_id: str, sm: ServerMetrics, console: Console, launcher: Launcher = run_load
) -> LoadOutcome:
    profile = plan.profile
    console.print(
        f"servegate run {run_id}: {profile.name} -> {plan.url}"
        f" ({plan.workers} {'local' if launcher is run_load else 'remote'} worker(s),"
        f" up to {profile.max_duration:g} s)"
    )
    live = _Live(console, profile.max_duration)
    with sm.sampler(plan.url, plan.run_dir), live.progress:
        return launcher(plan, live)


def _finish(plan: RunPlan, run_id: str, outcome: LoadOutcome, slo: Any, console: Console) -> Any:
    """run.json and the report of one run (or repeat); the summary, or None."""
    run_dir, profile = plan.run_dir, plan.profile
    n_workers = plan.workers + plan.remote_workers
    for p in outcome.problems:
        console.print(f"[yellow]warning[/] {p}", highlight=False)
    meta = build_run_meta(
        run_id,
        profile,
        plan.url,
        n_workers,
        outcome.load or {},
        workload=outcome.workload,
        ceiling_rps=outcome.ceiling_rps,
        generator=outcome.generator or None,
    )
    if meta is None:
        raise UserError(f"{run_dir}: the load never started; see {run_dir / 'logs'}")
    write_run_meta(run_dir, meta)
    return _report(run_dir, slo, console)


def _repeats(
    plan: RunPlan,
    run_id: str,
    slo: Any,
    sm: ServerMetrics,
    console: Console,
    launcher: Launcher = run_load,
) -> tuple[Path, LoadOutcome, Any]:
    """Run the profile ``repeats`` times into r0, r1, ... and write repeats.json."""
    import yaml

    from servegate.metrics.repeats import REPEATS_FILE, summarize_repeats
    from servegate.report.repeats import print_repeats, render_markdown

    parent, base = plan.run_dir, plan.profile
    names: list[str] = []
    seeds: list[int] = []
    summaries: list[Any] = []
    problems: list[str] = []
    outcome = LoadOutcome(load=None, interrupted=False, problems=[])
    for i in range(base.repeats):
        profile = base.model_copy(update={"seed": base.seed + i, "repeats": 1})
        rdir = parent / f"r{i}"
        rdir.mkdir()
        (rdir / "profile.yaml").write_text(
            yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False)
        )
        one = dataclasses.replace(plan, profile=profile, run_dir=rdir)
        rid = f"{run_id}-r{i}"
        console.print(f"repeat {i + 1}/{base.repeats} (seed {profile.seed})")
        outcome = _load(one, rid, sm, console, launcher)
        problems += [f"r{i}: {p}" for p in outcome.problems]
        summary = _finish(one, rid, outcome, slo, console)
        if summary is not None:
            names.append(rdir.name)
            seeds.append(profile.seed)
            summaries.append(summary)
        if outcome.interrupted:
            break
    if summaries:
        rs = summarize_repeats(base.name, names, seeds, summaries)
        (parent / REPEATS_FILE).write_bytes(
            orjson.dumps(rs.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
        )
        (parent / "repeats.md").write_text(render_markdown(rs))
        print_repeats(rs, console)
    merged = LoadOutcome(load=outcome.load, interrupted=outcome.interrupted, problems=problems)
    return parent, merged, summaries[-1] if summaries else None


def _report(run_dir: Path, slo: Any, console: Console) -> Any:
    try:
        from servegate.report import print_summary, write_report
    except ImportError as exc:  # pragma: no cover - only while the report package is missing
        console.print(f"[yellow]no report written[/] (servegate.report unavailable: {exc})")
        return None
    summary = write_report(run_dir, slo)
    print_summary(summary, console)
    return summary


@click.command(name="run")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), help="Profile YAML.")
@click.option("--url", help="Base URL of the OpenAI-compatible endpoint (http://host:port).")
@click.option("--sim", is_flag=True, help="Start the simulator on loopback and load it.")
@click.option("--slo", "slo_ref", metavar="NAME|FILE", help="SLO preset or YAML file to check.")
@click.option(
    "--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True
)
@click.option("--workers", type=click.IntRange(0, 256), help="Local worker processes.")
@click.option(
    "--master-bind",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST[:PORT]",
    help="Where the Locust master listens (use with --remote-workers).",
)
@click.option("--remote-workers", type=click.IntRange(0, 256), default=0, show_default=True)
@click.option("--worker", "as_worker", is_flag=True, help="Run as a worker of a remote master.")
@click.option("--master-host", help="With --worker: the master's address.")
@click.option("--master-port", type=int, default=5557, show_default=True)
@click.option(
    "--server-metrics",
    "metrics_where",
    default="auto",
    show_default=True,
    metavar="auto|off|URL",
    help="Sample the server's Prometheus metrics during the run: auto reads URL/metrics.",
)
@click.option("--prometheus", metavar="URL", help="Read the server's metrics from Prometheus.")
@click.option(
    "--prometheus-selector",
    default="",
    metavar="SEL",
    help='Label matchers for --prometheus, e.g. namespace="sg-x",pod=~"vllm-.*".',
)
def run(
    profile_path: Path | None,
    as_worker: bool,
    master_host: str | None,
    master_port: int,
    metrics_where: str,
    prometheus: str | None,
    prometheus_selector: str,
    **load: Any,  # the other options, which are execute()'s parameters of the same names
) -> None:
    """Run a load profile against --url (or --sim) and write results/<run-id>/."""
    try:
        if as_worker:
            if not master_host:
                raise UserError("--worker needs --master-host")
            raise SystemExit(run_remote_worker(master_host, master_port))
        if profile_path is None:
            raise UserError("--profile is required")
        if metrics_where not in ("auto", "off") and not metrics_where.startswith(
            ("http://", "https://")
        ):
            raise UserError(f"--server-metrics {metrics_where!r}: expected auto, off or a URL")
        sm = ServerMetrics(metrics_where, prometheus, prometheus_selector)
        console = Console()
        run_dir, outcome, summary = execute(
            profile_path, console=console, server_metrics=sm, **load
        )
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"results: {run_dir}")
    if outcome.interrupted:
        raise SystemExit(130)
    if outcome.problems:
        raise SystemExit(2)
    if summary is not None and summary.slo is not None and not summary.slo.passed:
        raise SystemExit(1)
