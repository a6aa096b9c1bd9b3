"""A day of demand: requests per second for each minute, deterministic for a given seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MINUTES = 24 * 60
# (hour of the peak, width in hours, height): the diurnal curve before normalisation.
BUMPS = ((10.0, 1.5, 0.7), (15.0, 2.0, 1.0), (20.5, 1.5, 0.45))


@dataclass(frozen=True, slots=True)
class TraceShape:
    """Day demand: a night floor plus morning, afternoon and evening bumps, with noise."""

    peak_rps: float = 200.0
    trough_fraction: float = 0.1
    noise: float = 0.08  # stdev of the log of a slow (AR(1)) multiplicative noise
    seed: int = 0


def _bumps(hour: float) -> float:
    total = 0.0
    for centre, width, height in BUMPS:
        d = min(abs(hour - centre), 24.0 - abs(hour - centre))  # the day wraps around
        total += height * math.exp(-0.5 * (d / width) ** 2)
    return total


def demand(shape: TraceShape) -> list[float]:
    """Requests per second for each minute of the day (1440 values)."""
    raw = [_bumps(m / 60.0) for m in range(MINUTES)]
    lo, hi = min(raw), max(raw)
    rng = random.Random(shape.seed)
    out: list[float] = []
    z = 0.0
    for r in raw:
        z = 0.9 * z + math.sqrt(1 - 0.9**2) * rng.gauss(0.0, shape.noise)
        base = shape.trough_fraction + (1 - shape.trough_fraction) * (r - lo) / (hi - lo)
        out.append(shape.peak_rps * base * math.exp(z))
    return out


__all__ = ["BUMPS", "MINUTES", "TraceShape", "demand"]
