"""Comparing two runs: which figures moved, past their threshold, and significantly.

A threshold is a relative change (``10%``) or an absolute one in the figure's unit (``5`` ms,
``0.01`` for error rate), always in the bad direction: up for latencies and error rate, down
for throughput. A figure the base has but the new run lacks (for example no successes) counts
as a regression when it has a threshold.

Each side is a :class:`Side`: one value per repeat of each figure (a single run has one). The
change compares the means. When both sides have at least two repeats, a change past its
threshold is a regression only if it is also significant: the one-sided Mann-Whitney U test
on the per-repeat values (servegate.metrics.repeats) gives p <= alpha. With a single run on
either side the spread is unknown: the threshold alone decides and the verdict is marked
unqualified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from servegate.errors import UserError
from servegate.metrics.repeats import ALPHA, figure, worse_p_value
from servegate.metrics.repeats import higher_is_better as higher_is_better
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
class Side:
    """One side of a comparison: per figure, one value per repeat (None where missing)."""

    label: str
    profile_name: str
    source: str  # "servegate", "guidellm", "inference-perf"
    values: dict[str, list[float | None]]
    warnings: tuple[str, ...] = ()

    @property
    def repeats(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)

    def samples(self, key: str) -> list[float]:
        return [v for v in self.values.get(key, []) if v is not None]

    def mean(self, key: str) -> float | None:
        xs = self.samples(key)
        return sum(xs) / len(xs) if xs else None


def side_of(summaries: list[Summary], label: str) -> Side:
    """A servegate side from one summary or the summaries of a run's repeats."""
    keys = known_keys()
    return Side(
        label=label,
        profile_name=summaries[0].run.profile_name,
        source="servegate",
        values={k: [figure(s, k) for s in summaries] for k in keys},
        warnings=tuple(f"{f.code}: {f.message}" for s in summaries for f in s.flags),
    )


@dataclass(frozen=True)
class Row:
    key: str
    base: float | None
    new: float | None
    threshold: Threshold | None
    exceeds: bool  # past the threshold (means), whatever the spread
    p_value: float | None = None  # None: a side has a single value (unqualified)
    alpha: float = ALPHA

    @property
    def qualified(self) -> bool:
        return self.p_value is not None

    @property
    def regressed(self) -> bool:
        """Past the threshold and, when the spread is known, significant."""
        return self.exceeds and (self.p_value is None or self.p_value <= self.alpha)

    @property
    def verdict(self) -> str:
        if self.threshold is None:
            return ""
        if self.regressed:
            return "REGRESSED" if self.qualified else "REGRESSED (unqualified)"
        if self.exceeds:
            return f"not significant (p={self.p_value:.2g})"
        return "ok"

    @property
    def change(self) -> float | None:
        """Relative change new/base - 1, when both exist and base is not zero."""
        if self.base is None or self.new is None or self.base == 0:
            return None
        return self.new / self.base - 1


def known_keys() -> list[str]:
    lat = [f"{m}.{s}" for m in LATENCY_KEYS for s in LATENCY_STATS]
    return [*lat, *THROUGHPUT_KEYS, "error_rate"]


def value(summary: Summary, key: str) -> float | None:
    return figure(summary, key)


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


def compare(
    base: Summary | Side, new: Summary | Side, limits: dict[str, Threshold], alpha: float = ALPHA
) -> list[Row]:
    b_side = base if isinstance(base, Side) else side_of([base], "base")
    n_side = new if isinstance(new, Side) else side_of([new], "new")
    keys = list(dict.fromkeys([*SHOWN, *limits]))
    rows = []
    for key in keys:
        b, n = b_side.mean(key), n_side.mean(key)
        t = limits.get(key)
        p = worse_p_value(b_side.samples(key), n_side.samples(key), key)
        # A peer's tool that does not measure a figure at all is not a regression of it.
        exceeds = key in n_side.values and _regressed(key, b, n, t)
        rows.append(Row(key, b, n, t, exceeds, p if n is not None else None, alpha))
    return rows


def qualified(base: Side, new: Side) -> bool:
    """Whether the comparison knows both sides' spread (two or more repeats each)."""
    return base.repeats >= 2 and new.repeats >= 2
