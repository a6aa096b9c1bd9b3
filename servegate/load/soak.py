"""The suite's own resource use over a long run: RSS of each process and bytes of records.

A soak watches one ``servegate run`` from outside: every few seconds it reads the resident
set size of the run's processes (the CLI, the Locust master, each worker, the simulator),
the request count the master publishes in ``progress.json`` and the size of the records on
disk. :func:`rss_verdict` and :func:`records_verdict` then say whether memory stayed flat
after warm-up and whether the records grew in proportion to the requests.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psutil

#: Largest allowed RSS growth after warm-up, as a share of the post-warm-up level.
RSS_GROWTH_LIMIT = 0.10
#: Largest allowed change of bytes per request between the two halves of the run.
RECORDS_DRIFT_LIMIT = 0.10


@dataclass
class Sample:
    t_s: float  # seconds since the soak started
    rss: dict[str, int]  # role -> resident bytes
    done: int  # requests finished (the master's progress.json)
    records_bytes: int


@dataclass
class RssVerdict:
    role: str
    baseline: int  # median of the first samples after warm-up
    end: int  # median of the last samples
    peak: int
    growth: float  # end / baseline - 1
    passed: bool


@dataclass
class RecordsVerdict:
    points: int
    bytes_per_request_first: float | None
    bytes_per_request_second: float | None
    drift: float | None  # second / first - 1
    r2: float | None  # of bytes against requests, least squares
    passed: bool
    reason: str = ""


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    def roles(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.samples:
            seen.update(dict.fromkeys(s.rss))
        return list(seen)


def role_of(cmdline: list[str]) -> str | None:
    """Which part of a servegate run a process is, from its command line (None: not ours)."""
    if "locust" in cmdline:  # python -m locust -f .../locustfile.py --master|--worker ...
        if "--master" in cmdline:
            return "master"
        return "worker" if "--worker" in cmdline else None
    for i, arg in enumerate(cmdline[:-1]):  # python -m servegate CMD, or .../bin/servegate CMD
        if arg == "servegate" or arg.endswith("/servegate"):
            return {"sim": "sim", "run": "cli"}.get(cmdline[i + 1])
    return None


def process_rss(root_pid: int) -> dict[str, int]:
    """RSS of ``root_pid`` and its descendants by role; workers are ``worker-<pid>``."""
    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    out: dict[str, int] = {}
    for p in procs:
        try:
            role = role_of(p.cmdline())
            rss = int(p.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if role is None:
            continue
        out[f"worker-{p.pid}" if role == "worker" else role] = rss
    return out


def requests_done(run_dir: Path) -> int | None:
    try:
        doc = orjson.loads((run_dir / "progress.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    done = doc.get("done") if isinstance(doc, dict) else None
    return done if isinstance(done, int) else None


def records_bytes(run_dir: Path) -> int:
    total = 0
    for f in (run_dir / "records").glob("*.jsonl*"):
        try:
            total += f.stat().st_size
        except OSError:
            continue
    return total


def _median_of(values: list[int], n: int, tail: bool) -> int:
    part = values[-n:] if tail else values[:n]
    return int(statistics.median(part))


def rss_verdict(
    series: Series, warmup_s: float, limit: float = RSS_GROWTH_LIMIT
) -> list[RssVerdict]:
    """Per role: the median of the last 5 % of post-warm-up samples (at least 3) against the
    median of the first 5 % (at least 3); more than ``limit`` growth fails."""
    out: list[RssVerdict] = []
    for role in series.roles():
        values = [s.rss[role] for s in series.samples if s.t_s >= warmup_s and role in s.rss]
        if len(values) < 6:
            continue
        n = max(3, len(values) // 20)
        base, end = _median_of(values, n, False), _median_of(values, n, True)
        growth = end / base - 1 if base else 0.0
        out.append(RssVerdict(role, base, end, max(values), growth, growth <= limit))
    return out


def records_verdict(
    series: Series, warmup_s: float, limit: float = RECORDS_DRIFT_LIMIT
) -> RecordsVerdict:
    """Bytes of records per request in the first and second half of the post-warm-up
    samples (the increments over each half), their drift, and the straight-line fit."""
    pts = [
        (s.done, s.records_bytes)
        for s in series.samples
        if s.t_s >= warmup_s and s.done > 0 and s.records_bytes > 0
    ]
    if len(pts) < 4:
        return RecordsVerdict(len(pts), None, None, None, None, False, "too few samples")
    mid = len(pts) // 2
    halves = [(pts[0], pts[mid]), (pts[mid], pts[-1])]
    rates: list[float | None] = []
    for (n0, b0), (n1, b1) in halves:
        rates.append((b1 - b0) / (n1 - n0) if n1 > n0 else None)
    first, second = rates
    xs, ys = [float(p[0]) for p in pts], [float(p[1]) for p in pts]
    r2 = _r_squared(xs, ys)
    if first is None or second is None or first <= 0:
        return RecordsVerdict(len(pts), first, second, None, r2, False, "no requests in a half")
    drift = second / first - 1
    passed = abs(drift) <= limit
    reason = "" if passed else f"bytes per request moved {drift:+.1%} (limit {limit:.0%})"
    return RecordsVerdict(len(pts), first, second, drift, r2, passed, reason)


def _r_squared(xs: list[float], ys: list[float]) -> float | None:
    if len(set(xs)) < 2:
        return None
    fit = statistics.linear_regression(xs, ys)
    mean = statistics.fmean(ys)
    ss_tot = sum((y - mean) ** 2 for y in ys)
    ss_res = sum((y - (fit.slope * x + fit.intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    return 1.0 - ss_res / ss_tot if ss_tot else None


__all__ = [
    "RecordsVerdict",
    "RssVerdict",
    "Sample",
    "Series",
    "process_rss",
    "records_bytes",
    "records_verdict",
    "requests_done",
    "role_of",
    "rss_verdict",
]
