"""Latency draws for the plain ("distribution") latency model: constant, normal, lognormal.

Draws are clipped to ``[lo, hi]`` so a wide normal never yields a negative delay. The
lognormal is parameterised by the mean and stdev of the delay itself (not of its log), which
is what a user reading a latency report has at hand.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

DistKind = Literal["constant", "normal", "lognormal"]


@dataclass(frozen=True, slots=True)
class Dist:
    kind: DistKind
    mean: float
    stdev: float
    lo: float
    hi: float

    def draw(self, rng: random.Random) -> float:
        if self.kind == "constant" or self.stdev == 0.0:
            x = self.mean
        elif self.kind == "normal":
            x = rng.gauss(self.mean, self.stdev)
        else:
            if self.mean <= 0.0:
                x = 0.0
            else:
                sigma2 = math.log1p((self.stdev / self.mean) ** 2)
                mu = math.log(self.mean) - sigma2 / 2.0
                x = rng.lognormvariate(mu, math.sqrt(sigma2))
        return min(self.hi, max(self.lo, x))
