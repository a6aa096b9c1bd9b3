"""``servegate history``: headline figures over a series of nightly results, and where they
changed.

Each directory given is one point in time, in the order given. A directory is a run (its
``summary.json``), a run's repeats (``repeats.json``: the mean of the repeats), or a session's
results directory holding several runs: then every run found below it is a point of the
series of its profile. A profile run twice in one directory gives the mean of both.

Change points: the PELT search of ruptures with the least-squares (``l2``) cost, on the
series divided by its noise level, with penalty ``PENALTY * log(n)``. The noise level is the
median absolute deviation of successive differences (times 1.4826 / sqrt 2, so it estimates
the standard deviation of the noise without being moved by the steps themselves), but at
least ``MIN_NOISE`` of the series' median: changes smaller than that are not reported.
Segments are at least ``MIN_SIZE`` points long.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servegate.errors import UserError
from servegate.metrics.repeats import HEADLINE, REPEATS_FILE
from servegate.metrics.summary import SUMMARY_FILE
from servegate.report.compare import Side
from servegate.report.html import _fig, page, table_html
from servegate.report.peers import load_side
from servegate.report.tables import Table

PENALTY = 3.0
MIN_NOISE = 0.01
MIN_SIZE = 2


@dataclass(frozen=True)
class Change:
    index: int  # first point of the new level
    before: float
    after: float

    @property
    def relative(self) -> float | None:
        return None if self.before == 0 else self.after / self.before - 1


@dataclass
class Series:
    profile: str
    key: str
    labels: list[str]
    values: list[float | None]
    changes: list[Change] = field(default_factory=list)


def noise_level(xs: Sequence[float]) -> float:
    diffs = [b - a for a, b in itertools.pairwise(xs)]
    mad = 0.0
    if diffs:
        med = statistics.median(diffs)
        mad = statistics.median(abs(d - med) for d in diffs)
    return max(1.4826 * mad / math.sqrt(2), MIN_NOISE * abs(statistics.median(xs)), 1e-12)


def change_points(xs: Sequence[float]) -> list[int]:
    """Indices where a new level starts (see the module doc for the method)."""
    n = len(xs)
    if n < 2 * MIN_SIZE:
        return []
    import numpy as np
    import ruptures as rpt

    signal = np.asarray(xs, dtype=float) / noise_level(xs)
    ends = (
        rpt.Pelt(model="l2", min_size=MIN_SIZE, jump=1)
        .fit(signal)
        .predict(pen=PENALTY * math.log(n))
    )
    return [int(e) for e in ends if e < n]


def _changes(values: list[float | None]) -> list[Change]:
    idx = [i for i, v in enumerate(values) if v is not None]
    xs = [float(v) for v in values if v is not None]
    cuts = change_points(xs)
    bounds = [0, *cuts, len(xs)]
    out = []
    for j, c in enumerate(cuts):
        before = xs[bounds[j] : c]
        after = xs[c : bounds[j + 2]]
        out.append(Change(idx[c], statistics.fmean(before), statistics.fmean(after)))
    return out


def _runs_below(d: Path) -> list[Path]:
    if (d / REPEATS_FILE).exists() or (d / SUMMARY_FILE).exists():
        return [d]
    found = {p.parent for p in d.rglob(REPEATS_FILE)}
    for p in d.rglob(SUMMARY_FILE):
        if not any(r in p.parents for r in found):  # a repeat inside a repeats directory
            found.add(p.parent)
    return sorted(found)


def collect(dirs: Sequence[Path]) -> list[Series]:
    """The series of every profile and headline figure over ``dirs`` (in order)."""
    points: list[dict[str, list[Side]]] = []
    for d in dirs:
        if not Path(d).is_dir():
            raise UserError(f"{d}: not a directory")
        runs = _runs_below(Path(d))
        if not runs:
            raise UserError(f"{d}: no servegate results (summary.json or repeats.json) below it")
        by_profile: dict[str, list[Side]] = {}
        for r in runs:
            side = load_side(r)
            by_profile.setdefault(side.profile_name, []).append(side)
        points.append(by_profile)
    labels = [Path(d).name for d in dirs]
    out = []
    for profile in sorted({p for pt in points for p in pt}):
        for key in HEADLINE:
            vals: list[float | None] = []
            for pt in points:
                means = [m for s in pt.get(profile, []) if (m := s.mean(key)) is not None]
                vals.append(statistics.fmean(means) if means else None)
            if all(v is None for v in vals):
                continue
            out.append(Series(profile, key, labels, vals, _changes(vals)))
    return out


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.3f}"


def describe(c: Change, labels: Sequence[str]) -> str:
    rel = "" if c.relative is None else f" ({c.relative:+.1%})"
    return f"from {labels[c.index]}: {_fmt(c.before)} -> {_fmt(c.after)}{rel}"


def table(series: Sequence[Series]) -> Table:
    rows = [
        [
            s.profile,
            s.key,
            str(sum(v is not None for v in s.values)),
            _fmt(s.values[-1]),
            "; ".join(describe(c, s.labels) for c in s.changes) or "none",
        ]
        for s in series
    ]
    return Table("History", ["profile", "figure", "points", "last", "change points"], rows)


def figure(s: Series) -> dict[str, Any]:
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines+markers", "name": s.key, "x": s.labels, "y": s.values}
    ]
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": s.labels[c.index],
            "x1": s.labels[c.index],
            "y0": 0,
            "y1": 1,
            "line": {"color": "#b00020", "dash": "dot"},
        }
        for c in s.changes
    ]
    return _fig(data, f"{s.profile}: {s.key} (dotted: change points)", shapes=shapes)


def render_history_html(series: Sequence[Series]) -> str:
    note = (
        f"<p>Change points: PELT (ruptures), l2 cost on the series over its noise level, "
        f"penalty {PENALTY:g} log n, segments of at least {MIN_SIZE} points.</p>"
    )
    body = ["<h1>servegate history</h1>", note, table_html(table(series))]
    return page("servegate history", body, [figure(s) for s in series])
