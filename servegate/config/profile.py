"""Load profiles: what to send, how fast, for how long.

A profile is one YAML document with ``kind: Profile``. The load model says whether the
shape's *level* is a number of concurrent users (closed loop) or a request rate in requests/s
(open loop); the shape says how that level moves with time. Everything random (prompt and
output lengths, Poisson gaps, prefix groups) is drawn from generators seeded by ``seed``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from servegate.config.base import StrictModel
from servegate.config.headers import Headers
from servegate.config.workload import (
    Connections,
    Conversation,
    Dataset,
    ModelShare,
    TokenCounter,
    Trace,
)

Api = Literal["chat", "completions", "embeddings"]

_DUR_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def _parse_duration(value: Any) -> Any:
    """Accept 30, 2.5, "30s", "5m", "1h", "250ms"; anything else is left for pydantic to reject."""
    if isinstance(value, str):
        m = _DUR_RE.match(value)
        if m is None:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30, '30s', '5m', '1h')")
        return float(m.group(1)) * _UNIT_S[m.group(2)]
    return value


Duration = Annotated[
    float,
    BeforeValidator(_parse_duration, json_schema_input_type=float | str),
    Field(ge=0),
]
PositiveDuration = Annotated[
    float,
    BeforeValidator(_parse_duration, json_schema_input_type=float | str),
    Field(gt=0),
]


#: Longest prompt or output a profile may ask for, in tokens: far above any model's context.
MAX_TOKENS = 100_000_000


class Distribution(StrictModel):
    """A length in tokens drawn per request, clamped to [min, max]."""

    dist: Literal["constant", "uniform", "normal", "lognormal"] = Field(
        "constant", description="constant uses mean; uniform uses [min, max]"
    )
    mean: float = Field(..., gt=0, le=MAX_TOKENS, description="mean length in tokens")
    stdev: float = Field(0.0, ge=0, description="standard deviation (normal, lognormal)")
    min: int = Field(1, ge=1, description="smallest length drawn")
    max: int | None = Field(None, ge=1, description="largest length drawn (default: 4 x mean)")

    @model_validator(mode="after")
    def _check(self) -> Distribution:
        hi = self.upper
        if hi < self.min:
            raise ValueError(f"max ({hi}) is below min ({self.min})")
        if not self.min <= self.mean <= hi:
            raise ValueError(f"mean ({self.mean}) must lie within [min, max] = [{self.min}, {hi}]")
        if self.dist in ("normal", "lognormal") and self.stdev == 0:
            raise ValueError(f"a {self.dist} distribution needs stdev > 0")
        return self

    @property
    def upper(self) -> int:
        return self.max if self.max is not None else max(self.min, int(4 * self.mean))


class PrefixGroups(StrictModel):
    """Shared-prefix groups: every prompt starts with one of ``groups`` fixed prefixes."""

    groups: int = Field(..., ge=1, description="number of distinct shared prefixes")
    length: int = Field(..., ge=1, description="prefix length in tokens")


_PATH_OR_URL = r"^(/|https?://[^/\s]+/)"
_PATH_HELP = "a path under the run's URL, or an absolute http(s) URL (another service)"


class EndpointPaths(StrictModel):
    """Per-API paths; an absolute URL sends that API elsewhere (RAG: embeddings service)."""

    chat: str = Field("/v1/chat/completions", pattern=_PATH_OR_URL, description=_PATH_HELP)
    completions: str = Field("/v1/completions", pattern=_PATH_OR_URL, description=_PATH_HELP)
    embeddings: str = Field("/v1/embeddings", pattern=_PATH_OR_URL, description=_PATH_HELP)

    def path(self, api: Api) -> str:
        return str(getattr(self, api))

    def absolute(self, api: Api) -> bool:
        return not self.path(api).startswith("/")


class ClosedLoop(StrictModel):
    """Level = concurrent users, each sending its next request when the last one ends."""

    type: Literal["closed"]
    think_time: Duration = Field(0.0, description="pause between a user's requests")
    spawn_rate: float | None = Field(
        None, gt=0, description="users started per second (default: reach the level in 1 s)"
    )


class OpenLoop(StrictModel):
    """Level = requests/s sent on schedule, whatever the server's latency."""

    type: Literal["open"]
    arrival: Literal["constant", "poisson", "trace"] = Field(
        "poisson", description="trace: send times from the profile's trace (shape: replay)"
    )
    max_in_flight: int = Field(
        1000, ge=1, description="per worker; arrivals beyond it are counted as dropped"
    )


LoadModel = Annotated[ClosedLoop | OpenLoop, Field(discriminator="type")]


class Criteria(StrictModel):
    """Per-step pass criteria for sweeps and SLO searches (milliseconds, ratios)."""

    ttft_p99_ms: float | None = Field(None, gt=0)
    tpot_p99_ms: float | None = Field(None, gt=0)
    e2e_p99_ms: float | None = Field(None, gt=0)
    max_error_rate: float = Field(0.01, ge=0, le=1)
    min_achieved_ratio: float = Field(
        0.9, gt=0, le=1, description="open loop: completed / offered rate below this = saturated"
    )


class Steady(StrictModel):
    type: Literal["steady"]
    level: float = Field(..., gt=0)
    duration: PositiveDuration


class Soak(StrictModel):
    """Steady load held long enough to expose leaks and drift; reported per interval."""

    type: Literal["soak"]
    level: float = Field(..., gt=0)
    duration: PositiveDuration


class Ramp(StrictModel):
    type: Literal["ramp"]
    start: float = Field(..., ge=0)
    end: float = Field(..., ge=0)
    ramp: PositiveDuration
    hold: Duration = 0.0


class Stage(StrictModel):
    duration: PositiveDuration
    level: float = Field(..., ge=0)


class Stages(StrictModel):
    type: Literal["stages"]
    stages: list[Stage] = Field(..., min_length=1)


class Spike(StrictModel):
    type: Literal["spike"]
    base: float = Field(..., ge=0)
    peak: float = Field(..., gt=0)
    at: Duration
    length: PositiveDuration
    duration: PositiveDuration

    @model_validator(mode="after")
    def _check(self) -> Spike:
        if self.at + self.length > self.duration:
            raise ValueError("the spike (at + length) must end within duration")
        return self


def _check_settle(settle: float, step_duration: float) -> None:
    """Sweeps and searches exclude ``settle`` seconds of each step: some must be left."""
    if settle >= step_duration:
        raise ValueError("settle must be shorter than step_duration")


#: The most steps a sweep may have (more is a mistyped step or stop).
MAX_SWEEP_STEPS = 10_000


class Sweep(StrictModel):
    """Levels start, start+step, ... up to stop; ends early at the first saturated step."""

    type: Literal["sweep"]
    start: float = Field(..., gt=0)
    stop: float = Field(..., gt=0)
    step: float = Field(..., gt=0)
    step_duration: PositiveDuration
    settle: Duration = Field(0.0, description="start of each step excluded from its figures")
    stop_on_saturation: bool = True
    criteria: Criteria = Field(default_factory=lambda: Criteria())

    @model_validator(mode="after")
    def _check(self) -> Sweep:
        if self.stop < self.start:
            raise ValueError("stop must be >= start")
        if (self.stop - self.start) / self.step >= MAX_SWEEP_STEPS:
            raise ValueError(
                f"{(self.stop - self.start) / self.step + 1:.3g} steps from start to stop;"
                f" at most {MAX_SWEEP_STEPS}"
            )
        _check_settle(self.settle, self.step_duration)
        return self


class SloSearch(StrictModel):
    """Highest level meeting ``criteria``: double from ``low`` until a failure, then bisect."""

    type: Literal["slo-search"]
    low: float = Field(..., gt=0)
    high: float = Field(..., gt=0)
    step_duration: PositiveDuration
    settle: Duration = 0.0
    tolerance: float = Field(0.05, gt=0, lt=1, description="stop when (hi-lo)/hi is below this")
    max_probes: int = Field(12, ge=2)
    criteria: Criteria

    @model_validator(mode="after")
    def _check(self) -> SloSearch:
        if self.high <= self.low:
            raise ValueError("high must be > low")
        _check_settle(self.settle, self.step_duration)
        return self


class Replay(StrictModel):
    """A trace replayed at its own times (open loop, ``arrival: trace``) for ``duration``."""

    type: Literal["replay"]
    duration: PositiveDuration


Shape = Annotated[
    Steady | Soak | Ramp | Stages | Spike | Sweep | SloSearch | Replay,
    Field(discriminator="type"),
]


def shape_max_duration(
    shape: Steady | Soak | Ramp | Stages | Spike | Sweep | SloSearch | Replay,
) -> float:
    """Upper bound of the run length in seconds (sweeps and searches may end earlier)."""
    if isinstance(shape, Steady | Soak | Spike | Replay):
        return shape.duration
    if isinstance(shape, Ramp):
        return shape.ramp + shape.hold
    if isinstance(shape, Stages):
        return sum(s.duration for s in shape.stages)
    if isinstance(shape, Sweep):
        n = int((shape.stop - shape.start) / shape.step + 1e-9) + 1
        return n * shape.step_duration
    return shape.max_probes * shape.step_duration


class Profile(StrictModel):
    kind: Literal["Profile"]
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    api: Api = Field(..., description="first (or only) request of each iteration")
    then: list[Api] = Field(
        default_factory=list, description="further requests in the same iteration (e.g. RAG)"
    )
    stream: bool = Field(True, description="stream chat/completions responses (SSE)")
    model: str = Field(..., min_length=1)
    embedding_model: str | None = Field(
        None,
        min_length=1,
        description="model of embedding requests (default: model); a RAG stack serves two",
    )
    endpoints: EndpointPaths = Field(default_factory=lambda: EndpointPaths())
    load: LoadModel
    shape: Shape
    warmup: Duration = Field(0.0, description="excluded from the measured window")
    cooldown: Duration = Field(0.0, description="excluded from the measured window")
    prompt: Distribution | None = Field(
        None, description="unique prompt part, tokens (not with a dataset or trace)"
    )
    output: Distribution | None = Field(
        None, description="max_tokens per request (unless the dataset or trace gives it)"
    )
    ignore_eos: bool = Field(False, description="ask the server to ignore EOS (vLLM)")
    min_tokens: bool = Field(False, description="send min_tokens = max_tokens (vLLM)")
    prefix: PrefixGroups | None = Field(None, description="shared prefix before the prompt")
    seed: int = Field(0, ge=0)
    repeats: int = Field(
        1,
        ge=1,
        le=100,
        description="run the profile N times with seeds seed, seed+1, ...; the summary gives "
        "each headline figure's mean, bootstrap CI and coefficient of variation",
    )
    timeout: PositiveDuration = Field(60.0, description="per request, connect and read")
    headers: Headers
    workers: int = Field(1, ge=1, le=256, description="Locust worker processes")
    dataset: Dataset | None = Field(None, description="prompts from a data set (not synthetic)")
    trace: Trace | None = Field(None, description="arrival times and lengths from a trace")
    conversation: Conversation | None = Field(None, description="multi-turn users (closed loop)")
    models: list[ModelShare] = Field(
        default_factory=list, description="a weighted mix of model names, one drawn per request"
    )
    tokenizer: TokenCounter = Field(
        default_factory=lambda: TokenCounter(), description="who counts prompt tokens"
    )
    connections: Connections = Field(
        default_factory=lambda: Connections(), description="keep-alive, every N, per request"
    )

    @model_validator(mode="after")
    def _check(self) -> Profile:
        _check_workload(self)
        total = shape_max_duration(self.shape)
        if isinstance(self.shape, Sweep | SloSearch):
            if self.warmup or self.cooldown:
                raise ValueError(f"{self.shape.type} uses settle per step, not warmup/cooldown")
        elif self.warmup + self.cooldown >= total:
            raise ValueError(
                f"warmup + cooldown ({self.warmup + self.cooldown:g} s) leave no measured window"
                f" in a {total:g} s run"
            )
        if isinstance(self.shape, Steady | Soak | Ramp | Stages | Spike) and isinstance(
            self.load, ClosedLoop
        ):
            for lvl in _levels(self.shape):
                if lvl != int(lvl):
                    raise ValueError(f"closed-loop levels are user counts; {lvl:g} is not whole")
        return self

    def model_for(self, api: Api) -> str:
        if api == "embeddings" and self.embedding_model is not None:
            return self.embedding_model
        return self.model

    def resolved(self, base: Path) -> Profile:
        """This profile with its data paths made absolute, relative ones taken from ``base``
        (the profile file's directory)."""
        update: dict[str, Any] = {}
        for key in ("dataset", "trace", "tokenizer"):
            part = getattr(self, key)
            path = getattr(part, "path", None)
            if isinstance(path, str) and not Path(path).is_absolute():
                update[key] = part.model_copy(update={"path": str((base / path).resolve())})
        return self.model_copy(update=update)

    @property
    def prepared(self) -> bool:
        """Whether prompts are read before the run (data set or trace) rather than drawn."""
        return self.dataset is not None or self.trace is not None

    @property
    def apis(self) -> list[Api]:
        return [self.api, *self.then]

    @property
    def max_duration(self) -> float:
        return shape_max_duration(self.shape)


def _check_workload(p: Profile) -> None:
    """The combinations of data set, trace, conversation and mix that make sense."""
    tracing = isinstance(p.load, OpenLoop) and p.load.arrival == "trace"
    if tracing != (p.trace is not None) or tracing != isinstance(p.shape, Replay):
        raise ValueError("a trace goes with load.arrival: trace and shape.type: replay, all three")
    if p.trace is not None and p.dataset is not None:
        raise ValueError("give a dataset or a trace, not both (a trace carries the lengths)")
    if p.conversation is not None:
        if not isinstance(p.load, ClosedLoop):
            raise ValueError("conversation needs a closed loop (a user holds a conversation)")
        if p.apis != ["chat"]:
            raise ValueError("conversation needs api: chat and no further requests")
        if p.conversation.keep_connection and p.connections.mode != "keep-alive":
            raise ValueError("conversation.keep_connection needs connections.mode: keep-alive")
    if (p.prompt is None) != p.prepared:
        raise ValueError("give prompt lengths (prompt:) or a dataset/trace, exactly one")
    output_given = p.trace is not None or (
        p.dataset is not None and (p.dataset.format == "sharegpt" or p.dataset.output_field)
    )
    if p.output is None and not output_given:
        raise ValueError("output: is required unless the dataset or trace gives output lengths")
    if p.models and len({m.name for m in p.models}) != len(p.models):
        raise ValueError("models: each name once")
    if p.models and p.then:
        raise ValueError("models: a mix applies to single-request iterations (no then:)")


def _levels(shape: Steady | Soak | Ramp | Stages | Spike) -> list[float]:
    if isinstance(shape, Steady | Soak):
        return [shape.level]
    if isinstance(shape, Ramp):
        return [shape.start, shape.end]
    if isinstance(shape, Stages):
        return [s.level for s in shape.stages]
    return [shape.base, shape.peak]
