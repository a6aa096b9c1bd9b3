"""Build run.json (:class:`RunMeta`) from the profile and the master's load.json."""

from __future__ import annotations

import os
import platform
import secrets
import socket
import time
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from servegate.config.profile import ClosedLoop, Profile, SloSearch, Stages, Sweep
from servegate.metrics.clock import KERNEL_RX_STAMPS
from servegate.metrics.run_meta import RunMeta, Span, Stage


def new_run_id(profile_name: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    # 32 random bits: with 16, runs of one profile started in the same second collided
    # often enough to fail a test of 20 ids once in the stress run (p about 0.3 %)
    return f"{stamp}-{profile_name}-{secrets.token_hex(4)}"


def host_info() -> dict[str, str]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": str(os.cpu_count() or 0),
        "locust": version("locust"),
        "servegate": version("servegate"),
    }


def _stages(profile: Profile, load: dict[str, Any]) -> list[Stage]:
    shape = profile.shape
    if not isinstance(shape, Stages | Sweep | SloSearch):
        return []
    settle = shape.settle if isinstance(shape, Sweep | SloSearch) else 0.0
    closed = isinstance(profile.load, ClosedLoop)
    out: list[Stage] = []
    for seg in load.get("timeline", []):
        start, end, level = seg.get("start_ns"), seg.get("end_ns"), float(seg.get("level", 0))
        if not isinstance(start, int) or not isinstance(end, int) or level <= 0:
            continue
        start += int(settle * 1e9)
        if end <= start:
            continue
        label = f"{int(level)} users" if closed else f"{level:g} rps"
        out.append(
            Stage(
                name=f"step {seg.get('step', len(out))}: {label}",
                start_ns=start,
                end_ns=end,
                concurrency=int(level) if closed else None,
                rate_rps=None if closed else level,
            )
        )
    return out


def arrival_stamps(profile: Profile, url: str) -> str:
    """How the workers time arrivals: kernel receive stamps on plain HTTP (load.stamps)."""
    absolute = [profile.endpoints.path(a) for a in profile.apis if profile.endpoints.absolute(a)]
    own = len(absolute) < len(profile.apis)  # some request goes to the run's own URL
    schemes = {urlsplit(u).scheme for u in [*absolute, *([url] if own else [])]}
    if not KERNEL_RX_STAMPS or "http" not in schemes:
        return "user"
    return "kernel" if schemes == {"http"} else "kernel for http, user for https"


def describe_workload(profile: Profile) -> dict[str, str]:
    """What the profile sends beyond prompts: model mix, conversations, connection use."""
    out: dict[str, str] = {}
    if profile.models:
        total = sum(m.weight for m in profile.models)
        out["models"] = ", ".join(f"{m.name} {m.weight / total:.0%}" for m in profile.models)
    conv = profile.conversation
    if conv is not None:
        out["conversation"] = (
            f"{conv.turns} turns, think time {conv.think_time:g} s,"
            f" {'own connection' if conv.keep_connection else 'shared connections'}"
        )
    n = profile.connections.per_connection
    if n is None:
        out["connections"] = "keep-alive"
    elif n == 1:
        out["connections"] = "a new connection per request"
    else:
        out["connections"] = f"each worker closes a connection every {n} requests"
    return out


def build_run_meta(
    run_id: str,
    profile: Profile,
    url: str,
    workers: int,
    load: dict[str, Any],
    workload: dict[str, str] | None = None,
    ceiling_rps: float | None = None,
    generator: dict[str, str] | None = None,
) -> RunMeta | None:
    """None if the load never started (no start time in load.json). ``workload``: what
    the run's prompts were and who counted their tokens (from ``prepare``). ``generator``:
    where the load generator ran when not here (tags), and ``ceiling_rps`` its calibrated
    ceiling; without it, this machine's calibration for ``workers`` processes."""
    start, end = load.get("start_ns"), load.get("end_ns")
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    window = None
    w = load.get("window")
    if isinstance(w, dict) and w.get("end_ns", 0) > w.get("start_ns", 0):
        window = Span(start_ns=int(w["start_ns"]), end_ns=int(w["end_ns"]))
    tags = {**host_info(), **(generator or {}), "load_end": str(load.get("reason", ""))}
    tags["arrival_stamps"] = arrival_stamps(profile, url)
    best = load.get("slo_search_best")
    if best is not None:
        tags["slo_search_best"] = f"{float(best):g}"
    return RunMeta(
        run_id=run_id,
        profile_name=profile.name,
        profile=profile.model_dump(mode="json"),
        endpoint=url,
        model=profile.model,
        start_ns=start,
        end_ns=max(end, start),
        window=window,
        workers=workers,
        generator_ceiling_rps=_ceiling(workers) if generator is None else ceiling_rps,
        stages=_stages(profile, load),
        tags=tags,
        workload={**(workload or {}), **describe_workload(profile)},
    )


def _ceiling(workers: int) -> float | None:
    """The calibrated load-generator ceiling for ``workers`` processes, when this machine has
    one (``servegate calibrate``); a damaged calibration file counts as none, with a warning
    on stderr, so that a run's results are never lost to it."""
    import sys

    from servegate.errors import ConfigError
    from servegate.load.calibration_file import load_calibration

    try:
        cal = load_calibration()
    except ConfigError as exc:
        print(f"servegate: ignoring the calibration: {exc}", file=sys.stderr)
        return None
    return None if cal is None else cal.ceiling_rps(workers)
