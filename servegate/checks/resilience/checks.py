"""The Assess step of every resilience check, as pure functions.

Each returns the failures as sentences (empty list: pass), so the meta-tests and the unit tests
can feed them broken states and see a message that says what went wrong. Nothing here talks
to a cluster or a server.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

VERSION_HEADER = "x-servegate-model-version"


@dataclass(frozen=True)
class ErrorBudget:
    """The largest share of failed requests a disruption may cost (an SLO's max_error_rate)."""

    name: str
    max_error_rate: float

    def allowed(self, total: int) -> int:
        """Failed requests the budget allows out of ``total`` (rounded down)."""
        return math.floor(self.max_error_rate * total + 1e-9)


def assess_budget(
    errors_by_kind: Mapping[str, int], total: int, budget: ErrorBudget, what: str
) -> list[str]:
    """Errors of a load run (by kind) against the budget; no request at all is a failure."""
    if total <= 0:
        return [f"{what}: the load run sent no request, so the error budget cannot be judged"]
    failed = sum(errors_by_kind.values())
    if failed <= budget.allowed(total):
        return []
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(errors_by_kind.items()) if n) or "none"
    return [
        f"{what}: {failed} of {total} requests failed ({failed / total:.2%}), over the "
        f"{budget.name} error budget of {budget.max_error_rate:.2%} "
        f"({budget.allowed(total)} allowed); by kind: {kinds}"
    ]


@dataclass(frozen=True)
class VersionSample:
    """One probe request: when it was sent (seconds from the probe's start), which version
    answered, or why none did."""

    t_s: float
    version: str | None
    error: str | None = None


def answered(samples: Iterable[VersionSample], since_s: float = 0.0) -> list[VersionSample]:
    return [s for s in samples if s.t_s >= since_s and s.version is not None]


def version_counts(samples: Iterable[VersionSample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        if s.version is not None:
            out[s.version] = out.get(s.version, 0) + 1
    return out


def share_tolerance(expected: float, n: int, floor: float = 0.08, sigmas: float = 4.0) -> float:
    """How far an observed share may stray from ``expected`` over ``n`` independent picks.

    The larger of a fixed floor and ``sigmas`` binomial standard deviations: with 4 sigma a
    correct split fails about once in 16,000 runs, while a canary taking half instead of a
    quarter of the traffic is caught from a few dozen samples on.
    """
    if n <= 0:
        return 1.0
    return max(floor, sigmas * math.sqrt(expected * (1 - expected) / n))


def assess_share(
    samples: Sequence[VersionSample], version: str, expected: float, min_samples: int = 40
) -> tuple[float | None, list[str]]:
    """The share of answered probes that ``version`` served, against ``expected``."""
    got = answered(samples)
    if len(got) < min_samples:
        return None, [
            f"only {len(got)} probe requests were answered (need {min_samples}) to measure "
            f"the share of {version}"
        ]
    share = sum(1 for s in got if s.version == version) / len(got)
    tol = share_tolerance(expected, len(got))
    if abs(share - expected) <= tol:
        return share, []
    return share, [
        f"{version} served {share:.1%} of {len(got)} probe requests, expected "
        f"{expected:.1%} +- {tol:.1%} (versions seen: {version_counts(got)})"
    ]


def assess_only_version(
    samples: Sequence[VersionSample], version: str, since_s: float, what: str, min_samples: int = 5
) -> list[str]:
    """Every probe answered from ``since_s`` on came from ``version``."""
    got = answered(samples, since_s)
    if len(got) < min_samples:
        return [f"{what}: only {len(got)} probe requests answered after t={since_s:.1f}s"]
    others = [s for s in got if s.version != version]
    if not others:
        return []
    first = others[0]
    return [
        f"{what}: {len(others)} of {len(got)} responses after t={since_s:.1f}s came from "
        f"other versions {version_counts(others)} (first at t={first.t_s:.1f}s), "
        f"expected only {version}"
    ]


def timeline(samples: Iterable[VersionSample], bucket_s: float = 2.0) -> list[dict[str, object]]:
    """Probe answers per version (and probe errors) in time buckets, for the report."""
    buckets: dict[int, dict[str, int]] = {}
    for s in samples:
        row = buckets.setdefault(int(s.t_s // bucket_s), {})
        key = s.version if s.version is not None else f"error:{s.error or '?'}"
        row[key] = row.get(key, 0) + 1
    return [{"t_s": round(i * bucket_s, 3), **buckets[i]} for i in sorted(buckets)]


@dataclass(frozen=True)
class Eviction:
    """What the API server answered to one policy/v1 Eviction."""

    pod: str
    status: int  # 201 allowed, 429 refused by a PodDisruptionBudget, other: error
    message: str = ""


def assess_evictions(
    evictions: Sequence[Eviction], replicas: int, max_unavailable: int
) -> list[str]:
    """Evicting every replica in turn (none replaced meanwhile): the first ``max_unavailable``
    are allowed (201), every later one is refused with 429 naming the disruption budget."""
    out: list[str] = []
    if len(evictions) < replicas:
        out.append(f"only {len(evictions)} evictions were tried for {replicas} replicas")
    for i, ev in enumerate(evictions):
        allowed_here = i < max_unavailable
        if allowed_here and ev.status != 201:
            out.append(
                f"eviction {i + 1} of pod {ev.pod} was refused (HTTP {ev.status}: "
                f"{ev.message}) although the budget allows {max_unavailable} disruption(s)"
            )
        if not allowed_here and ev.status != 429:
            verb = "allowed" if ev.status == 201 else f"answered HTTP {ev.status}"
            out.append(
                f"eviction {i + 1} of pod {ev.pod} was {verb}: it takes the model server "
                f"below {replicas - max_unavailable} available replica(s) and should be "
                "refused with 429 (is a PodDisruptionBudget selecting these pods?)"
            )
        elif not allowed_here and "disruption budget" not in ev.message:
            out.append(
                f"eviction {i + 1} of pod {ev.pod} refused with 429 but not by a "
                f"disruption budget: {ev.message!r}"
            )
    return out
