"""Run a latency model in real time and hand each token to the request's sink.

Two drivers share one interface (``submit``, ``cancel``, ``live``): the batching driver
steps :class:`~servegate.sim.engine.BatchEngine` on a logical clock, the distribution
driver sleeps TTFT and ITL draws per request. The batching driver keeps step boundaries on
a logical timeline (the previous step's end) while it is within a timer tick of real time,
so timer granularity does not stretch every step; once it falls further behind it
resynchronises to real time rather than bursting to catch up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Protocol

from servegate.sim.dist import Dist
from servegate.sim.engine import BatchEngine, Seq
from servegate.sim.metrics import LiveState, SimMetrics

_RESYNC_S = 0.002
_MAX_BURST_S = 0.002  # longest run of overdue steps without yielding to I/O


class Sink(Protocol):
    def token(self, index: int) -> None: ...
    def finish(self) -> None: ...


def _sink(seq: Seq) -> Sink:
    sink = seq.sink
    assert sink is not None
    return sink  # type: ignore[return-value]


class BatchDriver:
    def __init__(
        self,
        engine: BatchEngine,
        metrics: SimMetrics,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.clock = clock
        self._wake = asyncio.Event()

    def submit(self, seq: Seq) -> None:
        self.engine.add(seq)
        self._wake.set()

    def cancel(self, seq: Seq) -> None:
        self.engine.remove(seq)

    def live(self) -> LiveState:
        e = self.engine
        return LiveState(len(e.running), len(e.waiting), e.kv_usage)

    async def run(self) -> None:
        engine, m, clock = self.engine, self.metrics, self.clock
        prev_end = last_yield = clock()
        while True:
            if engine.idle:
                self._wake.clear()
                await self._wake.wait()
                prev_end = clock()
            now = clock()
            start = prev_end if now - prev_end < _RESYNC_S else now
            dur = engine.begin_step(start)
            if dur is None:
                continue
            end = start + dur
            now = clock()
            if end > now:
                await asyncio.sleep(end - now)
                last_yield = clock()
            elif now - last_yield >= _MAX_BURST_S:
                await asyncio.sleep(0)
                last_yield = clock()
            res = engine.end_step(end)
            prev_end = end
            for seq in res.admitted:
                assert seq.admitted_at is not None
                m.queue.observe(seq.admitted_at - seq.arrival)
            if res.itl_count:
                m.itl.observe(res.itl_gap, res.itl_count)
            for seq in res.stepped:
                if seq.generated == 1:
                    m.ttft.observe(end - seq.arrival)
                seq.sink.token(seq.generated - 1)  # type: ignore[attr-defined]
            for seq in res.finished:
                _sink(seq).finish()


class DistDriver:
    """Independent per-request timing; ``max_num_seqs`` still caps concurrency (FIFO)."""

    def __init__(
        self,
        max_num_seqs: int,
        kv_cache_tokens: int,
        ttft: Dist,
        itl: Dist,
        seed: int,
        metrics: SimMetrics,
    ) -> None:
        self._sem = asyncio.Semaphore(max_num_seqs)
        self.kv_cache_tokens = kv_cache_tokens
        self.ttft = ttft
        self.itl = itl
        self.seed = seed
        self.metrics = metrics
        self.running = 0
        self.waiting = 0
        self.kv_used = 0
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._count = 0

    def submit(self, seq: Seq) -> None:
        self._count += 1
        rng = random.Random(self.seed * 1_000_003 + self._count)
        task = asyncio.get_running_loop().create_task(self._run(seq, rng))
        self._tasks[id(seq)] = task
        task.add_done_callback(lambda _t: self._tasks.pop(id(seq), None))

    def cancel(self, seq: Seq) -> None:
        seq.done = True
        task = self._tasks.get(id(seq))
        if task is not None:
            task.cancel()

    def live(self) -> LiveState:
        return LiveState(self.running, self.waiting, self.kv_used / self.kv_cache_tokens)

    async def run(self) -> None:
        """Nothing to step: each request runs its own task. Waits until cancelled."""
        await asyncio.Event().wait()

    async def _run(self, seq: Seq, rng: random.Random) -> None:
        m = self.metrics
        self.waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        used = seq.prompt_tokens
        self.kv_used += used
        try:
            seq.admitted_at = time.perf_counter()
            m.queue.observe(seq.admitted_at - seq.arrival)
            await asyncio.sleep(self.ttft.draw(rng))
            last = time.perf_counter()
            seq.first_token_at = last
            m.ttft.observe(last - seq.arrival)
            for i in range(seq.output_tokens):
                if i:
                    await asyncio.sleep(self.itl.draw(rng))
                    now = time.perf_counter()
                    m.itl.observe(now - last)
                    last = now
                if seq.done:
                    return
                seq.generated = i + 1
                used += 1
                self.kv_used += 1
                _sink(seq).token(i)
            seq.done = True
            _sink(seq).finish()
        finally:
            self.kv_used -= used
            self.running -= 1
            self._sem.release()
