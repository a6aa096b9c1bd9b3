"""One replica's capacity curve: what it does at each request rate, on the simulator's engine.

The day study must not invent a replica's capacity or utilisation: it runs the real
continuous-batching engine (:mod:`servegate.sim.engine`) with a fake clock under Poisson
arrivals of the request mix, for a few simulated minutes per rate, and records the busy
fraction (share of time a step was running: what DCGM's GPU_UTIL reports), the batch
occupancy (running / max_num_seqs: the simulator's own DCGM gauge), throughput and the p99
TTFT and TPOT. The curve is then interpolated at 1-minute resolution over the day.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, fields

from servegate.errors import UserError
from servegate.sim.engine import BatchEngine, EngineConfig, Seq
from servegate.sim.settings import SimSettings


@dataclass(frozen=True, slots=True)
class Lengths:
    """Token lengths drawn from a normal distribution, rounded."""

    mean: float
    stdev: float

    def draw(self, rng: random.Random, lo: int, hi: int) -> int:
        return int(min(hi, max(lo, round(rng.gauss(self.mean, self.stdev)))))


@dataclass(frozen=True, slots=True)
class RequestMix:
    """Prompt and output lengths of the traffic, each draw clipped to [min, max]."""

    prompt: Lengths = Lengths(512.0, 128.0)
    output: Lengths = Lengths(180.0, 60.0)
    min_tokens: int = 16
    max_tokens: int = 2048

    def draw(self, rng: random.Random) -> tuple[int, int]:
        """(prompt, output) tokens of one request."""
        lo, hi = self.min_tokens, self.max_tokens
        return self.prompt.draw(rng, lo, hi), self.output.draw(rng, lo, hi)


@dataclass(frozen=True, slots=True)
class Point:
    """What one replica does at a steady ``rps`` (measured after a warm-up)."""

    rps: float
    busy: float  # share of wall time with a step in flight (DCGM GPU_UTIL semantics)
    occupancy: float  # mean running / max_num_seqs (the simulator's GPU_UTIL gauge)
    tokens_per_s: float
    p99_ttft_s: float
    p99_tpot_s: float
    stable: bool  # the queue did not grow without bound


def _p99(xs: list[float]) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, math.ceil(0.99 * len(s)) - 1)]


def measure(
    cfg: EngineConfig, mix: RequestMix, rps: float, *, seconds: float, warmup: float, seed: int
) -> Point:
    """Drive the engine with Poisson arrivals at ``rps`` for ``seconds`` of fake time."""
    rng = random.Random(seed)
    eng = BatchEngine(cfg)
    end = warmup + seconds
    t = 0.0
    next_arrival = rng.expovariate(rps)
    busy = occ = 0.0
    tokens = 0
    ttft: list[float] = []
    tpot: list[float] = []
    while t < end:
        while next_arrival <= t:
            p, o = mix.draw(rng)
            eng.add(Seq(p, o, next_arrival))
            next_arrival += rng.expovariate(rps)
        dur = eng.begin_step(t)
        if dur is None:
            t = next_arrival
            continue
        running = len(eng.running)
        res = eng.end_step(t + dur)
        lo, hi = max(t, warmup), min(t + dur, end)
        if hi > lo:
            busy += hi - lo
            occ += (hi - lo) * running
        t += dur
        for s in res.stepped:
            if s.generated == 1 and s.arrival >= warmup and t <= end:
                ttft.append(t - s.arrival)
        for s in res.finished:
            if t <= end and t >= warmup:
                tokens += s.generated
            if s.arrival >= warmup and s.output_tokens > 1 and s.first_token_at is not None:
                tpot.append((t - s.first_token_at) / (s.output_tokens - 1))
    # Unbounded queue: more waiting at the end than a step can ever admit, and growing.
    stable = len(eng.waiting) <= cfg.max_num_seqs
    return Point(
        rps=rps,
        busy=busy / seconds,
        occupancy=occ / seconds / cfg.max_num_seqs,
        tokens_per_s=tokens / seconds,
        p99_ttft_s=_p99(ttft),
        p99_tpot_s=_p99(tpot),
        stable=stable,
    )


def saturation_rps(cfg: EngineConfig, mix: RequestMix) -> float:
    """Upper bound of a replica's request rate: a full batch's tokens per step / mean output."""
    per_seq_kv = mix.prompt.mean + mix.output.mean
    batch = min(cfg.max_num_seqs, max(1, int(cfg.kv_cache_tokens // per_seq_kv)))
    # In steady state each step admits batch / mean output new prompts on average.
    step = (
        cfg.decode_base_s
        + cfg.decode_per_seq_s * batch
        + cfg.prefill_s_per_token * mix.prompt.mean * batch / mix.output.mean
    )
    return batch / step / mix.output.mean


def engine_config(s: SimSettings) -> EngineConfig:
    """The batching engine the simulator runs with settings ``s`` (same field names)."""
    return EngineConfig(**{f.name: getattr(s, f.name) for f in fields(EngineConfig)})


@dataclass(frozen=True, slots=True)
class Curve:
    """Measured points by increasing rate, plus the highest rate that met the SLO."""

    points: tuple[Point, ...]
    slo_rps: float  # highest measured rate meeting the latency SLO on one replica
    max_rps: float  # highest measured rate that was still stable
    max_seqs: int  # the engine's max_num_seqs, to turn occupancy back into sequences

    def at(self, rps: float) -> Point:
        """Linear interpolation between measured points (zero load at 0 rps)."""
        if rps <= 0:
            return Point(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, True)
        rates = [p.rps for p in self.points]
        i = bisect_right(rates, rps)
        if i >= len(self.points):
            return self.points[-1]
        hi = self.points[i]
        lo = self.points[i - 1] if i > 0 else Point(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, True)
        w = (rps - lo.rps) / (hi.rps - lo.rps)

        def mix(a: float, b: float) -> float:
            return a + w * (b - a)

        return Point(
            rps,
            mix(lo.busy, hi.busy),
            mix(lo.occupancy, hi.occupancy),
            mix(lo.tokens_per_s, hi.tokens_per_s),
            mix(lo.p99_ttft_s, hi.p99_ttft_s),
            mix(lo.p99_tpot_s, hi.p99_tpot_s),
            hi.stable,
        )


def measure_curve(
    cfg: EngineConfig,
    mix: RequestMix,
    *,
    fractions: tuple[float, ...],
    ttft_limit_s: float,
    tpot_limit_s: float,
    seconds: float = 120.0,
    warmup: float = 20.0,
    seed: int = 0,
) -> Curve:
    """Measure the engine at ``fractions`` of its saturation rate."""
    top = saturation_rps(cfg, mix)
    points = tuple(
        measure(cfg, mix, f * top, seconds=seconds, warmup=warmup, seed=seed + i)
        for i, f in enumerate(sorted(fractions))
    )
    ok = [
        p.rps
        for p in points
        if p.stable and p.p99_ttft_s <= ttft_limit_s and p.p99_tpot_s <= tpot_limit_s
    ]
    if not ok:
        raise UserError("no measured rate meets the SLO on one replica: lower the fractions")
    stable = [p.rps for p in points if p.stable]
    return Curve(points=points, slo_rps=max(ok), max_rps=max(stable), max_seqs=cfg.max_num_seqs)


__all__ = [
    "Curve",
    "Lengths",
    "Point",
    "RequestMix",
    "engine_config",
    "measure",
    "measure_curve",
    "saturation_rps",
]
