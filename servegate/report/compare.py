"""Comparing two summaries: which figures moved, and which moved past their threshold.

A threshold is a relative change (``10%``) or an absolute one in the figure's unit (``5`` ms,
``0.01`` for error rate), always in the bad direction: up for latencies and error rate, down
for throughput. A figure the base has but the new run lacks (for example no successes) counts
as a regression when it has a threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from servegate.errors import UserError
from servegate.metrics.stats import Dist
from servegate.metrics.summary import Summary

LATENCY_KEYS = ("ttft", "tpot", "itl", "e2e", "e2e_with_queue", "ntpot")
LATENCY_STATS = ("mean", "p50", "p90", "p95", "p99", "p99_9", "max")
THROUGHPUT_KEYS = (
    "throughput.output_tokens_per_s",
    "throughput.requests_per_s",
    "throughput.goodput_per_s",
)
SHOWN = (
    *(f"{m}.{s}" for m in ("ttft", "tpot", "itl", "e2e") for s in ("p50", "p99")),
    *THROUGHPUT_KEYS,
    "error_rate",
)
DEFAULT_THRESHOLDS = (
    "ttft.p99=10%",
    "tpot.p99=10%",
    "itl.p99=10%",
    "e2e.p99=10%",
    "throughput.output_tokens_per_s=10%",
    "error_rate=0.01",
)


@dataclass(frozen=True)
class Threshold:
    key: str
    amount: float
    relative: bool

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"


@dataclass(frozen=True)
class Row:
    key: str
    base: float | None
    new: float | None
    threshold: Threshold | None
    regressed: bool

    @property
    def change(self) -> float | None:
        """Relative change new/base - 1, when both exist and base is not zero."""
        if self.base is None or self.new is None or self.base == 0:
            return None
        return self.new / self.base - 1


def known_keys() -> list[str]:
    lat = [f"{m}.{s}" for m in LATENCY_KEYS for s in LATENCY_STATS]
    return [*lat, *THROUGHPUT_KEYS, "error_rate"]


def higher_is_better(key: str) -> bool:
    return key.startswith("throughput.")


def value(summary: Summary, key: str) -> float | None:
    if key == "error_rate":
        return summary.counts.error_rate
    if key.startswith("throughput."):
        v: float | None = getattr(summary.throughput, key.split(".", 1)[1])
        return v
    metric, stat = key.split(".", 1)
    dist: Dist = getattr(summary.latency, metric)
    return dist.stat(stat)


def parse_threshold(text: str) -> Threshold:
    """``KEY=10%`` or ``KEY=5``; ``p99.9`` may be written for ``p99_9``."""
    key, sep, amount = text.partition("=")
    key = key.strip().replace("p99.9", "p99_9")
    if not sep or not amount.strip():
        raise UserError(f"--max-regress {text!r}: expected KEY=AMOUNT, e.g. ttft.p99=10%")
    if key not in known_keys():
        raise UserError(
            f"--max-regress {text!r}: unknown figure {key!r} (e.g. ttft.p99, "
            "tpot.p50, e2e.max, throughput.output_tokens_per_s, error_rate)"
        )
    amount = amount.strip()
    relative = amount.endswith("%")
    try:
        num = float(amount.rstrip("%"))
    except ValueError:
        raise UserError(
            f"--max-regress {text!r}: {amount!r} is not a number or percentage"
        ) from None
    if num < 0:
        raise UserError(f"--max-regress {text!r}: the allowed regression must not be negative")
    return Threshold(key, num / 100 if relative else num, relative)


def thresholds(specs: Iterable[str], defaults: bool = True) -> dict[str, Threshold]:
    out: dict[str, Threshold] = {}
    for spec in (*(DEFAULT_THRESHOLDS if defaults else ()), *specs):
        t = parse_threshold(spec)
        out[t.key] = t
    return out


def _regressed(key: str, base: float | None, new: float | None, t: Threshold | None) -> bool:
    if t is None or base is None:
        return False
    if new is None:
        return True
    worse = base - new if higher_is_better(key) else new - base
    limit = t.amount * abs(base) if t.relative else t.amount
    return worse > limit


def compare(base: Summary, new: Summary, limits: dict[str, Threshold]) -> list[Row]:
    keys = list(dict.fromkeys([*SHOWN, *limits]))
    rows = []
    for key in keys:
        b, n = value(base, key), value(new, key)
        t = limits.get(key)
        rows.append(Row(key, b, n, t, _regressed(key, b, n, t)))
    return rows
