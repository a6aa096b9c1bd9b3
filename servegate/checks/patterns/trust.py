"""Whether a load run's figures can be reported, and which SLO limits a run missed.

Every benchmark checks the same things before it judges latency or prices a run: the load
engine reported no problem, some request succeeded, at most 1 % failed, the load generator
stayed below its ceiling, and client and server agree on token counts. :func:`why_untrusted`
returns what is wrong in words, so a test asserts on an empty list and a failure names every
reason at once.
"""

from __future__ import annotations

from servegate.harness.load import LoadResult
from servegate.metrics.summary import Summary

MAX_ERROR_RATE = 0.01


def why_untrusted(res: LoadResult) -> list[str]:
    """The reasons the figures of the run ``res`` cannot be taken as they stand (none: [])."""
    s: Summary = res.summary
    wrong = []
    if res.problems:
        wrong.append(f"load engine problems: {res.problems}")
    if not s.counts.succeeded > 0:
        wrong.append(f"no successful request; errors by kind: {s.counts.errors}")
    if not (s.counts.error_rate or 0.0) <= MAX_ERROR_RATE:
        wrong.append(f"errors by kind: {s.counts.errors}")
    flags = s.flag_codes()
    if "past_generator_ceiling" in flags:
        wrong.append("figures taken past the load generator's ceiling")
    if "token_count_mismatch" in flags:
        wrong.append("client and server token counts disagree")
    return wrong


def slo_misses(summary: Summary) -> str:
    """The SLO limits the run missed, one clause each ("" without an SLO or a miss)."""
    if summary.slo is None:
        return ""
    bad = [v for v in summary.slo.verdicts if not v.passed]
    return "; ".join(f"{v.key} observed {v.observed} > limit {v.limit}" for v in bad)


__all__ = ["MAX_ERROR_RATE", "slo_misses", "why_untrusted"]
