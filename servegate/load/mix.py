"""Per-request choices that must be reproducible: the model of a weighted mix, and whether a
request closes its connection (connection churn). Pure, so tests need no Locust."""

from __future__ import annotations

import bisect
import random
from itertools import accumulate

from servegate.config.workload import ModelShare


class ModelMix:
    """Draws model names by weight from a generator seeded by the profile seed and worker."""

    def __init__(self, shares: list[ModelShare], seed: int, worker: str) -> None:
        self._names = [m.name for m in shares]
        self._cum = list(accumulate(m.weight for m in shares))
        self._rng = random.Random(f"{seed}:{worker}:models")

    def pick(self) -> str | None:
        """A model name, or None for a profile without a mix (its ``model`` is used)."""
        if not self._names:
            return None
        x = self._rng.random() * self._cum[-1]
        return self._names[min(bisect.bisect_right(self._cum, x), len(self._names) - 1)]


class ConnectionBudget:
    """``per_connection`` requests, then one closes its connection; None: never."""

    def __init__(self, per_connection: int | None) -> None:
        self._n = per_connection
        self._sent = 0

    def closing(self) -> bool:
        if self._n is None:
            return False
        self._sent += 1
        return self._sent % self._n == 0
