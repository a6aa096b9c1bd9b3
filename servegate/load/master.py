"""Master side of a servegate Locust run (imported only in the Locust master process).

A controller greenlet owns the clock: every 100 ms it asks the :class:`ShapeController` for
the level, tells the workers (``sg_level``), judges finished sweep/search steps from the
merged worker tallies, and rewrites ``progress.json`` for the CLI's live display. At the end
it tells workers to finish, waits for their goodbyes (last tallies and records), writes
``load.json`` (timeline, window, verdicts) and quits Locust.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import gevent
import orjson

from servegate.config.profile import OpenLoop, Profile, SloSearch, Sweep
from servegate.load.shapes import ShapeController, Target, closed_loop_users, slo_search_best
from servegate.load.tally import MasterTally
from servegate.metrics.clock import mono_to_wall
from servegate.metrics.io import RecordWriter
from servegate.metrics.record import RequestRecord

TICK_S = 0.1
VERDICT_GRACE_S = 0.8  # > the workers' 0.5 s report period: their last deltas have arrived
BYE_TIMEOUT_S = 10.0
PROGRESS_FILE = "progress.json"
LOAD_FILE = "load.json"
MASTER_NICE = 10  # scheduling priority of the master below its workers'


def write_json_atomic(path: Path, doc: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


class MasterState:
    def __init__(self, environment: Any) -> None:
        opts = environment.parsed_options
        self.env = environment
        self.config: dict[str, Any] = orjson.loads(opts.sg_config)
        self.profile = Profile.model_validate(self.config["profile"])
        self.run_dir = Path(opts.sg_run_dir)
        self.ctrl = ShapeController(self.profile.shape)
        self.tally = MasterTally()
        self.writers: dict[str, RecordWriter] = {}
        self.byes: set[str] = set()
        self.current: Target | None = Target(0.0, 0)
        self.measure = False
        self.finished = False
        self.t0: int | None = None
        self.end_ns: int | None = None
        self.paused_s = 0.0  # controller clock stops while a step awaits its verdict
        self.timeline: list[dict[str, Any]] = []
        self.verdicts: list[dict[str, Any]] = []
        self.reason = "running"
        self._stop_reason: str | None = None
        self._written = False

    def interrupt(self) -> None:
        """SIGTERM: end the run like a finished shape, so workers flush and load.json is written.

        Locust's own SIGTERM handler is installed only after a headless shape run returns, so
        without this a terminated master would die silently mid-run.
        """
        if self.t0 is None:  # still waiting for workers: nothing to flush
            self.reason = "interrupted before the load started"
            self.write_final()
            os._exit(1)
        self._stop_reason = "interrupted"

    # -- messages -------------------------------------------------------------------------

    def on_progress(self, environment: Any, msg: Any, **_kw: Any) -> None:
        self.tally.merge(msg.data)

    def on_records(self, environment: Any, msg: Any, **_kw: Any) -> None:
        name = str(msg.data.get("worker", "remote"))
        w = self.writers.get(name)
        if w is None:
            w = self.writers[name] = RecordWriter(
                self.run_dir / "records" / f"records-{name}.jsonl.gz"
            )
        for d in msg.data.get("records", []):
            try:
                w.write(RequestRecord.from_json(d))
            except (TypeError, ValueError, KeyError):
                continue

    def on_bye(self, environment: Any, msg: Any, **_kw: Any) -> None:
        self.byes.add(str(msg.data.get("worker", "?")))

    # -- control loop ---------------------------------------------------------------------

    def begin(self) -> None:
        self.t0 = time.perf_counter_ns()
        first = self.ctrl.target(0.0)
        if first is not None:  # the first tick already spawns users at the first level
            self._set(first, self._measured(0.0, first))
        gevent.spawn(self._loop)

    def elapsed(self) -> float:
        assert self.t0 is not None
        return (time.perf_counter_ns() - self.t0) / 1e9

    def _loop(self) -> None:
        last_progress = 0.0
        pause_from: float | None = None
        while not self.finished:
            if self._stop_reason is not None:
                self._finish(self._stop_reason)
                return
            t_real = self.elapsed()
            t = t_real - self.paused_s
            pending = self.ctrl.pending_step(t)
            if pending is not None:
                if pause_from is None:
                    pause_from = t_real
                if t_real - pause_from >= VERDICT_GRACE_S:
                    self._judge(pending)
                    self.paused_s += t_real - pause_from
                    pause_from = None
                    t = t_real - self.paused_s
            target = self.ctrl.target(t)
            if target is None:
                self._finish("shape finished")
                return
            self._set(target, self._measured(t, target) and pause_from is None)
            if t_real - last_progress >= 0.5:
                last_progress = t_real
                self.write_progress()
            gevent.sleep(TICK_S)

    def _measured(self, t: float, target: Target) -> bool:
        shape = self.profile.shape
        if isinstance(shape, Sweep | SloSearch):
            lo, hi = self.ctrl.step_bounds(target.step)
            return lo <= t < hi
        return self.profile.warmup <= t < self.profile.max_duration - self.profile.cooldown

    def _set(self, target: Target, measure: bool) -> None:
        if target == self.current and measure == self.measure:
            return
        now = mono_to_wall(time.perf_counter_ns())
        if self.current is None or target.step != self.current.step or not self.timeline:
            if self.timeline:
                self.timeline[-1]["end_ns"] = now
            self.timeline.append(
                {"step": target.step, "level": target.level, "start_ns": now, "end_ns": None}
            )
        else:
            self.timeline[-1]["level"] = target.level
        self.current, self.measure = target, measure
        self._broadcast(target.level, target.step, measure, finished=False)

    def _broadcast(self, level: float, step: int, measure: bool, finished: bool) -> None:
        runner = self.env.runner
        runner.send_message(
            "sg_level",
            {
                "level": level,
                "step": step,
                "measure": measure,
                "workers": max(1, runner.worker_count),
                "finished": finished,
            },
        )

    def _judge(self, step: int) -> None:
        shape = self.profile.shape
        assert isinstance(shape, Sweep | SloSearch)
        lo, hi = self.ctrl.step_bounds(step)
        level = self.ctrl._levels[step]
        offered = level if isinstance(self.profile.load, OpenLoop) else None
        v = self.tally.verdict(step, shape.criteria, hi - lo, offered)
        self.ctrl.record_step(step, v.passed)
        self.verdicts.append(
            {"step": step, "level": level, "passed": v.passed, "reason": v.reason, **v.figures}
        )

    def _finish(self, reason: str) -> None:
        self.finished = True
        self.reason = reason
        self.end_ns = mono_to_wall(time.perf_counter_ns())
        if self.timeline and self.timeline[-1]["end_ns"] is None:
            self.timeline[-1]["end_ns"] = self.end_ns
        self.current = None
        step = self.timeline[-1]["step"] if self.timeline else 0
        self._broadcast(0.0, step, False, finished=True)
        deadline = time.monotonic() + BYE_TIMEOUT_S
        while time.monotonic() < deadline and len(self.byes) < self.env.runner.worker_count:
            gevent.sleep(0.1)
        self.write_final()
        self.env.runner.quit()

    # -- outputs --------------------------------------------------------------------------

    def write_progress(self) -> None:
        doc = {
            "elapsed_s": self.elapsed() if self.t0 is not None else 0.0,
            "max_duration_s": self.profile.max_duration,
            "level": self.current.level if self.current else 0.0,
            "step": self.current.step if self.current else None,
            "measuring": self.measure,
            "workers": self.env.runner.worker_count,
            "state": self.reason,
            **self.tally.snapshot(),
        }
        write_json_atomic(self.run_dir / PROGRESS_FILE, doc)

    def write_final(self) -> None:
        if self._written:
            return
        self._written = True
        for w in self.writers.values():
            w.close()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        start_ns = mono_to_wall(self.t0) if self.t0 is not None else None
        end_ns = self.end_ns or mono_to_wall(time.perf_counter_ns())
        window = None
        if start_ns is not None and not isinstance(self.profile.shape, Sweep | SloSearch):
            w0 = start_ns + int(self.profile.warmup * 1e9)
            w1 = min(
                end_ns, start_ns + int((self.profile.max_duration - self.profile.cooldown) * 1e9)
            )
            if w1 > w0:
                window = {"start_ns": w0, "end_ns": w1}
        results = [(v["level"], v["passed"]) for v in self.verdicts]
        doc = {
            "start_ns": start_ns,
            "end_ns": end_ns,
            "window": window,
            "reason": self.reason,
            "timeline": self.timeline,
            "verdicts": self.verdicts,
            "slo_search_best": slo_search_best(results)
            if isinstance(self.profile.shape, SloSearch)
            else None,
            "workers_said_bye": sorted(self.byes),
            "tally": self.tally.snapshot(),
        }
        write_json_atomic(self.run_dir / LOAD_FILE, doc)
        self.write_progress()


_STATE: MasterState | None = None


def yield_cpu_to_workers(niceness: int = MASTER_NICE) -> None:
    """Lower this process's scheduling priority (every thread: Linux nice is per thread).

    Measured: the master's wake-ups (controller ticks, merging tallies) preempted a worker
    sharing its core and added ms to the worker's timings; a niced master runs in the
    workers' idle gaps instead. It still gets CPU when a worker is saturated.
    """
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]  # not Linux: the calling thread only
    for tid in tids:
        try:
            cur = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, max(cur, niceness))
        except OSError:  # pragma: no cover - a thread that just ended, or no permission
            continue


def install(environment: Any) -> None:
    global _STATE
    yield_cpu_to_workers()
    _STATE = MasterState(environment)
    runner = environment.runner
    runner.register_message("sg_progress", _STATE.on_progress)
    runner.register_message("sg_records", _STATE.on_records)
    runner.register_message("sg_bye", _STATE.on_bye)
    environment.events.quitting.add_listener(_on_quitting)
    gevent.signal_handler(signal.SIGTERM, _STATE.interrupt)


def _on_quitting(environment: Any, **_kw: Any) -> None:
    if _STATE is not None:
        if _STATE.reason == "running":
            _STATE.reason = "interrupted"
        _STATE.write_final()


def shape_tick(
    runner: Any, closed_cls: type, open_cls: type
) -> tuple[int, float, list[type]] | None:
    st = _STATE
    if st is None:
        return None
    if st.t0 is None:
        st.begin()
    load = st.profile.load
    if isinstance(load, OpenLoop):
        n = max(1, runner.worker_count) if not st.finished else 0
        return n, float(max(n, 1)), [open_cls]
    users = closed_loop_users(st.current.level) if st.current is not None else 0
    rate = load.spawn_rate or float(max(users * 10, 1))  # default: reach the level in ~0.1 s
    return users, rate, [closed_cls]
