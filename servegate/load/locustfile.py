"""The locustfile servegate runs: users, the shape, and the worker side of the protocol.

Imported only by ``locust`` processes that the runner starts (never by pytest or the CLI):
importing Locust monkey-patches the process with gevent.

Protocol (Locust custom messages):
  master -> workers  ``sg_level``  {level, step, measure, workers, finished}
  workers -> master  ``sg_progress`` tally deltas (counts + DDSketches), every 0.5 s
  workers -> master  ``sg_records``  record batches, only for workers without a local dir
  workers -> master  ``sg_bye``      after the last progress and records were sent
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import gevent
import orjson
from gevent.pool import Pool
from gevent.threadpool import ThreadPoolExecutor
from locust import LoadTestShape, User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from servegate.config.profile import ClosedLoop, OpenLoop, Profile
from servegate.load import master as master_side
from servegate.load.background import lower_this_thread
from servegate.load.mix import ConnectionBudget, ModelMix
from servegate.load.pacer import IDLE_POLL_S, ArrivalSchedule, TraceSchedule
from servegate.load.prompts import Fit, Prompt, PromptFactory
from servegate.load.shapes import closed_loop_users
from servegate.load.tally import WorkerTally
from servegate.load.worker import Transport, api_transports, send
from servegate.load.workload import ItemPrompts, read_items, share
from servegate.metrics.clock import mono_to_wall
from servegate.metrics.io import RecordWriter
from servegate.metrics.record import RequestRecord

PROGRESS_EVERY_S = 0.5
RECORD_BATCH = 200


def worker_name() -> str:
    raw = os.environ.get("SERVEGATE_WORKER_NAME") or f"{socket.gethostname()}{os.getpid()}"
    return re.sub(r"[^A-Za-z0-9]", "", raw) or f"w{os.getpid()}"


class WorkerRuntime:
    """Everything one worker process shares between its users."""

    def __init__(self, environment: Any, config: dict[str, Any]) -> None:
        self.env = environment
        self.profile = Profile.model_validate(config["profile"])
        self.name = worker_name()
        self.level = 0.0
        self.step = 0
        self.measure = False
        self.workers = max(1, int(config.get("workers", 1)))
        self.finished = False
        self.in_flight = 0
        self.cut_off = 0  # requests that ended without a record (stopped with the run)
        self.tally = WorkerTally(self.name)
        load = self.profile.load
        pool = (
            load.max_in_flight
            if isinstance(load, OpenLoop)
            else int(config.get("max_users_per_worker", 1)) + 1
        )
        self.url = str(config["url"])
        self.transport = Transport(self.url, pool, self.profile.timeout, self.profile.headers)
        self.transports = api_transports(self.profile, self.transport, pool)
        self.index = int(getattr(environment.runner, "worker_index", 0) or 0) % self.workers
        self.trace_times: list[float] = []
        self.prompts = self._prompts(config.get("workload"))
        self.mix = ModelMix(self.profile.models, self.profile.seed, self.name)
        self.churn = ConnectionBudget(self.profile.connections.per_connection)
        local_dir = os.environ.get("SERVEGATE_RECORDS_DIR")
        # Batches are compressed in a native thread (zlib releases the GIL): on the event
        # loop each one stalled every request in flight for milliseconds.
        self._io = ThreadPoolExecutor(max_workers=1) if local_dir else None
        if self._io is not None:
            self._io.submit(lower_this_thread)  # its one thread yields the core to the loop
        self.writer = (
            RecordWriter(
                os.path.join(local_dir, f"records-{self.name}.jsonl.gz"),
                flush_every=16,  # small, cheap batches: each one delays the loop less
                executor=self._io,
                compresslevel=1,  # a third of the CPU of level 6, for 20 % more bytes
            )
            if local_dir
            else None
        )
        self.outbox: list[dict[str, Any]] = []
        self._reporter = gevent.spawn(self._report_loop)
        self._closed = False

    def _prompts(self, workload: str | None) -> PromptFactory | ItemPrompts:
        p = self.profile
        if workload:
            items = share(read_items(Path(workload)), self.index, self.workers)
            self.trace_times = [i.t for i in items if i.t is not None]
            return ItemPrompts(items, p.output, p.seed, self.name)
        assert p.prompt is not None and p.output is not None  # the profile checks it
        fit: Fit | None = None
        if p.tokenizer.source == "file" and p.tokenizer.path:
            from servegate.load.tokencount import FileCounter

            fit = FileCounter(Path(p.tokenizer.path)).fit
        return PromptFactory(p.prompt, p.output, p.prefix, p.seed, self.name, fit)

    def iteration(self, scheduled_ns: int | None, prompt: Prompt | None = None) -> None:
        """One user iteration: the profile's request chain with one prompt."""
        step, measure = self.step, self.measure
        if prompt is None:
            prompt = self.prompts.next()
        tags = {"step": str(step)}
        model = self.mix.pick()
        if model is not None:
            tags["model"] = model
        if prompt.group is not None:
            tags["prefix_group"] = str(prompt.group)
        if len(self.profile.apis) > 1:
            tags["chain"] = uuid.uuid4().hex[:16]  # pairs a chain's records (RAG end to end)
        self.in_flight += 1
        recorded = False
        try:
            for api in self.profile.apis:
                transport = self.transports[api]
                rec = send(
                    transport,
                    self.profile,
                    api,
                    prompt,
                    self.name,
                    scheduled_ns,
                    tags,
                    model=model,
                    close=self.churn.closing(),
                )
                self.record(rec, step, measure)
                scheduled_ns = None  # only the first request of a chain was paced
                if rec.error is not None:
                    break
            recorded = True
        finally:
            self.in_flight -= 1
            if not recorded:
                self.cut_off += 1

    def conversation(self) -> None:
        """One multi-turn conversation: each turn sends the history before its prompt."""
        conv = self.profile.conversation
        assert conv is not None
        own = (
            Transport(self.url, 1, self.profile.timeout, self.profile.headers)
            if conv.keep_connection
            else None
        )
        transport = own or self.transport
        session = uuid.uuid4().hex[:12]
        model = self.mix.pick()
        history: list[dict[str, str]] = []
        carried = 0  # tokens of the history, as counted when they were sent and received
        self.in_flight += 1
        recorded = False
        try:
            for turn in range(1, conv.turns + 1):
                if self.finished:
                    break
                step, measure = self.step, self.measure
                prompt = self.prompts.next()
                tags = {"step": str(step), "session": session, "turn": str(turn)}
                if model is not None:
                    tags["model"] = model
                reply: list[str] = []
                sent = dataclasses.replace(prompt, tokens=prompt.tokens + carried)
                rec = send(
                    transport,
                    self.profile,
                    "chat",
                    sent,
                    self.name,
                    None,
                    tags,
                    model=model,
                    history=history,
                    reply=reply,
                    close=self.churn.closing(),
                )
                self.record(rec, step, measure)
                if rec.error is not None:
                    break
                history += [
                    {"role": "user", "content": prompt.text},
                    {"role": "assistant", "content": "".join(reply)},
                ]
                carried += prompt.tokens + (rec.completion_tokens or rec.client_tokens)
                if conv.think_time and turn < conv.turns:
                    gevent.sleep(conv.think_time)
            recorded = True
        finally:
            self.in_flight -= 1
            if not recorded:
                self.cut_off += 1
            if own is not None:
                own.close()

    def record(self, rec: RequestRecord, step: int, measure: bool) -> None:
        self.tally.add(rec, step, measure)
        if self.writer is not None:
            self.writer.write(rec)
        else:
            # orjson reads the dataclass directly: far cheaper than to_json()'s deep copy
            self.outbox.append(orjson.loads(orjson.dumps(rec)))
            if len(self.outbox) >= RECORD_BATCH:
                self._ship_records()

    def _ship_records(self) -> None:
        if self.outbox:
            batch, self.outbox = self.outbox, []
            self.env.runner.send_message("sg_records", {"worker": self.name, "records": batch})

    def _report_loop(self) -> None:
        while True:
            gevent.sleep(PROGRESS_EVERY_S)
            self.report()

    def report(self) -> None:
        self._ship_records()
        msg = self.tally.take(self.in_flight, self.cut_off)
        self.env.runner.send_message("sg_progress", msg)

    def close(self) -> None:
        """Flush everything to the master / disk and say goodbye. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._reporter.kill(block=False)
        self.report()
        if self.writer is not None:
            self.writer.close()  # waits (cooperatively) for the batches still compressing
        if self._io is not None:
            self._io.shutdown(wait=False)
        for transport in {id(t): t for t in (self.transport, *self.transports.values())}.values():
            transport.close()
        self.env.runner.send_message("sg_bye", {"worker": self.name})


_RT: WorkerRuntime | None = None


def _runtime() -> WorkerRuntime:
    if _RT is None:  # pragma: no cover - users start only after test_start
        raise RuntimeError("servegate worker runtime not initialised")
    return _RT


class ClosedLoopUser(User):
    """Sends the request chain, waits think_time, repeats (level = number of these)."""

    wait_time = constant(0)

    def wait_time_s(self) -> float:
        load = _runtime().profile.load
        return load.think_time if isinstance(load, ClosedLoop) else 0.0

    @task
    def iterate(self) -> None:
        rt = _runtime()
        if rt.finished:
            gevent.sleep(1)
            return
        if rt.profile.conversation is not None:
            rt.conversation()
        else:
            rt.iteration(None)
        think = self.wait_time_s()
        if think:
            gevent.sleep(think)


class PacerUser(User):
    """One per worker in open-loop runs: sends on schedule into a bounded greenlet pool."""

    wait_time = constant(0)

    @task
    def pace(self) -> None:
        rt = _runtime()
        load = rt.profile.load
        assert isinstance(load, OpenLoop)
        index = getattr(self.environment.runner, "worker_index", 0) or 0
        tracing = load.arrival == "trace"
        sched = (
            TraceSchedule(rt.trace_times)
            if load.arrival == "trace"
            else ArrivalSchedule(load.arrival, rt.profile.seed, index % rt.workers, rt.workers)
        )
        pool = Pool(load.max_in_flight)
        t0 = time.perf_counter_ns()
        try:
            while not rt.finished:
                now = (time.perf_counter_ns() - t0) / 1e9
                due = sched.next_time(now, rt.level)
                if due is None:
                    gevent.sleep(IDLE_POLL_S)
                    continue
                if due > now:
                    gevent.sleep(min(due - now, IDLE_POLL_S))
                    if (time.perf_counter_ns() - t0) / 1e9 < due:
                        continue  # woke early to re-check the rate
                scheduled = mono_to_wall(t0 + int(due * 1e9))
                rt.tally.schedule(rt.step, rt.measure)
                # a trace's prompt belongs to its time, sent or dropped
                prompt = rt.prompts.next() if tracing else None
                if pool.full():
                    rt.tally.drop(rt.step, rt.measure)  # counted, never silently delayed
                else:
                    pool.spawn(rt.iteration, scheduled, prompt)
                sched.advance(rt.level)
        finally:
            pool.kill(block=False)
        gevent.sleep(3600)  # the pacer runs once; Locust would otherwise restart the task


class ServegateShape(LoadTestShape):
    """Turns the master controller's current target into Locust user counts."""

    def tick(self) -> tuple[int, float, list[type[User]]] | None:
        return master_side.shape_tick(self.runner, ClosedLoopUser, PacerUser)


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _add_arguments(parser: Any) -> None:
    parser.add_argument("--sg-config", type=str, default="", help="servegate run config (JSON)")
    parser.add_argument("--sg-run-dir", type=str, default="", help="servegate results directory")


@events.init.add_listener  # type: ignore[untyped-decorator]
def _on_init(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        master_side.install(environment)
    elif isinstance(runner, WorkerRunner):
        runner.register_message("sg_level", _on_level)


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _on_test_start(environment: Any, **_kw: Any) -> None:
    global _RT
    if isinstance(environment.runner, WorkerRunner) and _RT is None:
        config = orjson.loads(environment.parsed_options.sg_config)
        _RT = WorkerRuntime(environment, config)
        if _EARLY_LEVEL:
            _apply_level(_RT, _EARLY_LEVEL[-1])


# The master sends the first level as the test starts, which can reach a worker before its
# runtime exists (test_start); it is kept here and applied then. Without it, a shape whose
# level never changes (steady, no warm-up) left an open-loop worker at level 0.
_EARLY_LEVEL: list[dict[str, Any]] = []


def _on_level(environment: Any, msg: Any, **_kw: Any) -> None:
    rt = _RT
    if rt is None:
        _EARLY_LEVEL.append(msg.data)
        return
    _apply_level(rt, msg.data)


def _apply_level(rt: WorkerRuntime, data: dict[str, Any]) -> None:
    rt.level = float(data["level"])
    rt.step = int(data["step"])
    rt.measure = bool(data["measure"])
    rt.workers = max(1, int(data.get("workers", rt.workers)))
    if data.get("finished"):
        rt.finished = True
        gevent.spawn(_finish, rt)


def _finish(rt: WorkerRuntime) -> None:
    gevent.sleep(0.2)  # let requests completing right now be recorded
    rt.close()


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _on_quit(environment: Any, **_kw: Any) -> None:
    if _RT is not None:
        _RT.close()


__all__ = ["ClosedLoopUser", "PacerUser", "ServegateShape", "closed_loop_users"]
