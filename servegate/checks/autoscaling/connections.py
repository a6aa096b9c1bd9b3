"""How the autoscaling checks' load uses its connections, and what that does to added replicas.

A ClusterIP Service balances connections, not requests. The ramp profiles as shipped
(ramp-autoscale, keda-ramp) close a connection every few requests (``connections:`` in the
profile), so a replica the autoscaler adds receives part of the running load; the checks
assert it (:func:`assert_replicas_served`). The ``keep-alive`` variant runs a copy of the same
profile whose users keep their connections: the added replica then serves little or nothing,
which is reported (per-pod figures in the section), not asserted.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from servegate.config.base import load_yaml_file
from servegate.config.profile import ClosedLoop, Profile, Ramp
from servegate.config.workload import absolute_paths
from servegate.errors import MissingCapability, UserError
from servegate.harness.load import resolve_profile
from servegate.metrics.replica_traffic import (
    check_replicas_served,
    counts_recorded,
    ready_seconds,
    served_per_pod,
)
from servegate.metrics.scaling import REQUESTS, ScalingSample, served_unit

OUTPUT_TOKENS = "output tokens"
"""The unit of the pods' served counts on llama-server, which counts no requests."""

CHURN = "churn"
KEEP_ALIVE = "keep-alive"
VARIANTS = (CHURN, KEEP_ALIVE)
"""The connection variants a check runs: the profile as shipped (churn), and keep-alive."""

MIN_READY_S = 30.0
"""A replica Ready for at least this long while the load ran must have served a request
(with churn). At the ramp profiles' rate of new connections (each closes after 2 requests,
several requests per second) 30 s gives an added replica dozens of chances to be picked."""


def ramp_profile(profile: str, variant: str, out_dir: Path) -> Path:
    """The profile to run for ``variant``: the shipped file for churn (refused if it does
    not churn), or a copy with ``connections: {mode: keep-alive}`` written under
    ``out_dir`` (kept with the results, so the report says what ran)."""
    path = resolve_profile(profile)
    mode = load_yaml_file(path, Profile).connections.mode
    if variant == CHURN:
        if mode == "keep-alive":
            raise UserError(f"{path}: connections must churn (mode every or per-request)")
        return path
    if variant != KEEP_ALIVE:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    doc = absolute_paths(yaml.safe_load(path.read_text()), path.parent)
    doc["name"] = f"{doc['name']}-{KEEP_ALIVE}"
    doc["connections"] = {"mode": KEEP_ALIVE}
    out = out_dir / "profiles" / f"{path.stem}-{KEEP_ALIVE}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


UNRECORDED_SHARE = 0.02
"""Requests the load generator sent but left out of its count, besides those in flight at the
stop: the ones that ended in the last moments of the run, after its measured window (17 - 12
= 5 of 4222 in a CPU check run). A pod scraped twice doubles its count, far beyond this."""


def most_completions(sent: int, profile: Path) -> int:
    """The most requests the pods can have completed under ``profile`` (a closed-loop ramp)
    when the load generator counted ``sent``: each of its users may have had one request in
    flight when the load stopped (the server completes it, the generator does not record
    it), and a small share ended after the measured window (:data:`UNRECORDED_SHARE`)."""
    p = load_yaml_file(profile, Profile)
    if not isinstance(p.load, ClosedLoop) or not isinstance(p.shape, Ramp):
        raise UserError(f"{profile}: the autoscaling checks drive a closed-loop ramp")
    users = math.ceil(max(p.shape.start, p.shape.end))
    return sent + users + math.ceil(sent * UNRECORDED_SHARE)


def most_served(sent: int, profile: Path, unit: str) -> int:
    """:func:`most_completions` in the unit the pods' counters count: requests, or output
    tokens (llama-server's ``tokens_predicted_total``), at most the profile's output length
    per request (``ignore_eos``: the engine runs each reply to ``max_tokens``, a cut-off
    reply stops short of it)."""
    most = most_completions(sent, profile)
    if unit == REQUESTS:
        return most
    if unit != OUTPUT_TOKENS:
        raise ValueError(f"unit must be {REQUESTS!r} or {OUTPUT_TOKENS!r}, not {unit!r}")
    out = load_yaml_file(profile, Profile).output
    if out is None:
        raise UserError(f"{profile}: output tokens per request need a length (output:)")
    # the longest length the load draws (servegate.load.prompts.draw_length)
    per_request = (
        min(out.upper, max(out.min, round(out.mean))) if out.dist == "constant" else out.upper
    )
    return most * per_request


def per_pod_figures(
    samples: list[ScalingSample], start: float, stop: float, sent: int | None = None
) -> dict[str, Any]:
    """The section's per-replica figures: the work each pod completed (``requests_per_pod``,
    or ``output_tokens_per_pod`` where the server counts no requests, see
    :func:`~servegate.metrics.scaling.served_unit`) and the seconds it was Ready while the load
    ran (``start``/``stop`` on the series' time axis), beside the requests the load generator
    recorded (``sent``, its own count)."""
    unit = served_unit(samples)
    return {
        f"{unit.replace(' ', '_')}_per_pod": served_per_pod(samples),
        "served_unit": unit,
        "requests_recorded_by_client": sent,
        "ready_s_during_load": {
            p: round(secs, 1) for p, secs in ready_seconds(samples, start, stop).items()
        },
        "min_ready_s": MIN_READY_S,
    }


def _overcounted(samples: list[ScalingSample], most: int) -> str | None:
    """Why the pods' counts cannot be trusted: they add up to more than the load can have
    sent (``most``, in the series' unit, see :func:`most_served`)."""
    total = sum(served_per_pod(samples).values())
    if total <= most:
        return None
    what = "completed requests" if (unit := served_unit(samples)) == REQUESTS else unit
    return (
        f"the pods count {total} {what}, more than the {most} the load can have "
        "sent: per-pod counts are wrong (a pod scraped twice?)"
    )


def replicas_served_verdict(
    samples: list[ScalingSample], start: float, stop: float, most: int | None
) -> str:
    """One line for the report: "every replica served" or why not (either variant);
    ``most`` None: the load run left no count to check the pods' counts against."""
    if not counts_recorded(samples):
        return "not judged: no per-pod request counts (no Prometheus to read)"
    over = None if most is None else _overcounted(samples, most)
    reason = over or check_replicas_served(samples, start, stop, MIN_READY_S)
    if reason is None:
        what = "requests" if (unit := served_unit(samples)) == REQUESTS else unit
        return f"every replica Ready for >= {MIN_READY_S:.0f}s of the load served {what}"
    return reason


def assert_replicas_served(
    samples: list[ScalingSample], start: float, stop: float, most: int
) -> None:
    """With churn: every pod Ready for >= MIN_READY_S of the load completed a request, and an
    added replica was Ready that long; the pods' counts add up to no more than ``most``
    (:func:`most_completions`: the counts' own check against the load generator's). UserError
    (one line, per-pod figures) if not; MissingCapability when no per-pod counts could be
    read."""
    if not counts_recorded(samples):
        raise MissingCapability(
            "per-pod request counts need a Prometheus the sampler can query "
            "(the local cluster's, or the scaling_sampler's prometheus_url)"
        )
    reason = _overcounted(samples, most) or check_replicas_served(samples, start, stop, MIN_READY_S)
    if reason is not None:
        raise UserError(reason)
