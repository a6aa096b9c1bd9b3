"""``results/<run-id>/run.json``: what was run, against what, and which time span counts.

It lives in the metrics layer (not in report) so the load engine, which sits below report,
can build and write it with the same model that reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field, ValidationError, model_validator

from servegate.config.base import StrictModel, format_validation_error
from servegate.errors import UserError

RUN_META_FILE = "run.json"


class Span(StrictModel):
    """A half-open interval ``[start_ns, end_ns)`` of wall-anchored monotonic time."""

    start_ns: int = Field(..., ge=0)
    end_ns: int = Field(..., ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end_ns <= self.start_ns:
            raise ValueError("end_ns must be after start_ns")
        return self

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def contains(self, t_ns: int) -> bool:
        return self.start_ns <= t_ns < self.end_ns


class Stage(Span):
    """One stage of a staged or sweep profile; each becomes a point of the sweep plot."""

    name: str = Field(..., min_length=1)
    rate_rps: float | None = Field(None, gt=0, description="target request rate (open loop)")
    concurrency: int | None = Field(None, ge=1, description="target users (closed loop)")


class RunMeta(StrictModel):
    """Metadata the load engine writes beside the records."""

    schema_version: Literal[1] = 1
    run_id: str = Field(..., min_length=1)
    profile_name: str = Field(..., min_length=1)
    profile: dict[str, Any] = Field(default_factory=dict, description="the profile, as loaded")
    endpoint: str = Field(..., description="base URL the load was sent to")
    model: str = Field("", description="model name sent in requests")
    start_ns: int = Field(..., ge=0, description="first request may be sent from here")
    end_ns: int = Field(..., ge=0, description="load stopped here")
    window: Span | None = Field(None, description="measured window; None means the whole run")
    workers: int = Field(1, ge=1, description="load-generator worker processes")
    generator_ceiling_rps: float | None = Field(
        None, gt=0, description="requests/s this load generator sustains (calibration)"
    )
    stages: list[Stage] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    workload: dict[str, str] = Field(
        default_factory=dict,
        description="prompt source, token counter, model mix, conversations, connection use",
    )

    @model_validator(mode="after")
    def _ordered(self) -> RunMeta:
        if self.end_ns < self.start_ns:
            raise ValueError("end_ns is before start_ns")
        return self

    def measured_window(self) -> Span:
        if self.window is not None:
            return self.window
        return Span(start_ns=self.start_ns, end_ns=max(self.end_ns, self.start_ns + 1))


def one_line(exc: ValidationError, source: str) -> str:
    """Pydantic errors of a JSON file as a single line naming the file and fields."""
    prefix = f"{source}: "
    parts = [
        ln.removeprefix(prefix) for ln in format_validation_error(exc, source, None).splitlines()
    ]
    return prefix + "; ".join(parts)


def read_json(
    path: Path, not_json: str = "not valid JSON", error: type[UserError] = UserError
) -> Any:
    """The JSON document in ``path``. A file that cannot be read, or is not JSON, raises
    ``error`` in one line (``<path>: <not_json>: ...`` for the latter); a missing file raises
    FileNotFoundError, since only the caller knows what its absence means."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise error(f"{path}: {not_json}: {exc}") from None


def load_json_model(path: Path, model: type[StrictModel], what: str) -> Any:
    """Read a JSON file into ``model``; every failure is a one-line :class:`UserError`."""
    try:
        doc = read_json(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (is this a servegate {what}?)") from None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise UserError(one_line(exc, str(path))) from None


def load_run_meta(run_dir: Path) -> RunMeta:
    meta: RunMeta = load_json_model(Path(run_dir) / RUN_META_FILE, RunMeta, "results directory")
    return meta


def write_run_meta(run_dir: Path, meta: RunMeta) -> Path:
    path = Path(run_dir) / RUN_META_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(meta.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    return path
