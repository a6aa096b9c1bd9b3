"""The calibration file: this machine's load-generator ceiling, read by `run` and the report.

`servegate calibrate` writes it; anything that reports figures reads it with
:func:`load_calibration` and asks :func:`exceeds_ceiling` whether a run was driven harder than
the generator can drive without its own delays leaking into the latencies. The file lives in
``$XDG_CACHE_HOME/servegate/calibration.json`` (``~/.cache/...`` when unset) because it
describes the machine, not a project. Format: docs/calibration.md.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import orjson
from pydantic import Field, ValidationError

from servegate.config.base import StrictModel
from servegate.errors import ConfigError
from servegate.metrics.run_meta import read_json
from servegate.paths import cache_root

FORMAT_VERSION = 1


class CalibrationSettings(StrictModel):
    """How the ceiling was measured (same request shape as the probes)."""

    prompt_tokens: int = Field(..., gt=0)
    output_tokens: int = Field(..., gt=0, description="tokens per request, one per chunk")
    step_duration_s: float = Field(..., gt=0)
    min_achieved_ratio: float = Field(..., gt=0, le=1)
    lag_p50_limit_ms: float = Field(..., gt=0, description="allowed growth over the idle lag")
    lag_p99_limit_ms: float = Field(..., gt=0, description="allowed growth over the idle lag")
    idle_rps: float = Field(..., gt=0, description="rate of the baseline probe")
    idle_lag_p50_ms: float = Field(..., ge=0, description="send lag at the idle rate")
    idle_lag_p99_ms: float = Field(..., ge=0)
    pinned: bool = Field(..., description="generator and simulator pinned to separate cores")
    cpu_dma_latency_us: int | None = Field(
        None,
        ge=0,
        description="CPU wake-up latency limit held in /dev/cpu_dma_latency during the run;"
        " None: not held (idle CPUs sleep as the machine's idle governor decides)",
    )


class ProbeResult(StrictModel):
    """One open-loop step at a fixed target rate (all workers together)."""

    target_rps: float = Field(..., gt=0)
    sent_rps: float = Field(..., ge=0, description="requests actually sent per second")
    completed_rps: float = Field(..., ge=0)
    chunks_per_s: float = Field(..., ge=0, description="content chunks received per second")
    lag_p50_ms: float | None = Field(None, description="actual minus scheduled send time")
    lag_p99_ms: float | None = None
    errors: int = Field(0, ge=0)
    dropped: int = Field(0, ge=0, description="arrivals refused by a full in-flight pool")
    generator_cpu: float | None = Field(None, ge=0, description="busiest worker, cores")
    simulator_cpu: float | None = Field(None, ge=0, description="simulator process, cores")
    passed: bool
    reasons: list[str] = Field(default_factory=list, description="why it failed")


class TimingErrorFigures(StrictModel):
    """|client - server| timings at half the ceiling, in milliseconds."""

    rate_rps: float = Field(..., gt=0)
    requests: int = Field(..., ge=0)
    ttft_abs_p50_ms: float | None
    ttft_abs_p99_ms: float | None
    gap_abs_p50_ms: float | None
    gap_abs_p99_ms: float | None


class Calibration(StrictModel):
    version: int = Field(FORMAT_VERSION, description="file format version")
    created: str = Field(..., description="UTC time of the measurement, ISO 8601")
    host: dict[str, str] = Field(default_factory=dict)
    workers: int = Field(..., ge=1, description="worker processes used to measure")
    ceiling_rps_per_worker: float = Field(..., ge=0)
    ceiling_chunks_per_s_per_worker: float = Field(..., ge=0)
    bound_by: str = Field(
        ..., description="generator | simulator | max_rate | none: what stopped the search"
    )
    settings: CalibrationSettings
    probes: list[ProbeResult] = Field(default_factory=list)
    timing_error: TimingErrorFigures | None = None
    notes: list[str] = Field(default_factory=list)

    def ceiling_rps(self, workers: int) -> float:
        """Total requests/s that ``workers`` worker processes can drive (linear in workers)."""
        return self.ceiling_rps_per_worker * max(workers, 1)

    def ceiling_chunks_per_s(self, workers: int) -> float:
        return self.ceiling_chunks_per_s_per_worker * max(workers, 1)


def default_path() -> Path:
    return cache_root() / "calibration.json"


def save_calibration(cal: Calibration, path: str | Path | None = None) -> Path:
    """Write atomically (a crash never leaves half a file that later reads as bad)."""
    target = Path(path) if path is not None else default_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(cal.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".calibration-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_calibration(path: str | Path | None = None) -> Calibration | None:
    """The calibration, or None when the default file does not exist.

    A file named explicitly must exist. A file that does not parse or validate raises
    :class:`ConfigError` naming the file and the field.
    """
    target = Path(path) if path is not None else default_path()
    try:
        doc = read_json(target, "not JSON", ConfigError)
    except FileNotFoundError:
        if path is None:
            return None
        raise ConfigError(f"{target}: calibration file not found") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{target}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("version") not in (None, FORMAT_VERSION):
        raise ConfigError(
            f"{target}: version: unsupported calibration format {doc.get('version')!r}"
            f" (expected {FORMAT_VERSION}); run 'servegate calibrate' again"
        )
    try:
        return Calibration.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{target}: {field}: {err['msg']}{more}") from None


def exceeds_ceiling(
    achieved_rps: float,
    chunks_per_s: float,
    workers: int,
    calibration: Calibration | None = None,
) -> bool:
    """True when a run sent more requests/s or received more chunks/s than ``workers``
    calibrated workers can handle. False when there is no calibration to judge by."""
    cal = calibration if calibration is not None else load_calibration()
    if cal is None or cal.ceiling_rps_per_worker <= 0:
        return False
    return achieved_rps > cal.ceiling_rps(workers) or chunks_per_s > cal.ceiling_chunks_per_s(
        workers
    )


__all__ = [
    "Calibration",
    "CalibrationSettings",
    "ProbeResult",
    "TimingErrorFigures",
    "default_path",
    "exceeds_ceiling",
    "load_calibration",
    "save_calibration",
]
