"""The versioned ``summary.json`` model (schema_version 1). Field docs: results/README.md.

Latencies are milliseconds, rates per second, times of day wall-anchored nanoseconds.
Models are strict so that reading a summary written by another schema fails loudly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from servegate.config.base import StrictModel
from servegate.config.slo import SLOSpec
from servegate.metrics.run_meta import Span
from servegate.metrics.stats import Dist

SCHEMA_VERSION: Literal[1] = 1
SUMMARY_FILE = "summary.json"

DEFINITIONS: dict[str, str] = {
    "ttft": "first content chunk (text, reasoning or tool call) minus send time",
    "e2e": "last byte minus send time",
    "queue": "actual minus scheduled send time (open-loop runs only)",
    "e2e_with_queue": "E2E plus client queueing: latency as the schedule saw it",
    "tpot": "(E2E - TTFT) / (output tokens - 1), per request; vLLM's TPOT, guidellm's 'ITL'",
    "itl": "per-token gap between content chunks; a chunk with k tokens gives k samples of gap/k",
    "ntpot": "E2E / output tokens, per request",
    "output_tokens": "server usage.completion_tokens; client count only when usage is missing",
    "window": "a request counts when it completed (end_ns) inside the measured window",
    "percentiles": "linear interpolation between closest ranks (Hyndman-Fan type 7)",
}


class RunInfo(StrictModel):
    run_id: str
    profile_name: str
    endpoint: str
    model: str
    start_ns: int
    end_ns: int
    window: Span
    window_s: float
    workers: int
    generator_ceiling_rps: float | None
    workload: dict[str, str] = Field(
        default_factory=dict, description="prompt source, token counter, mix, connections"
    )


class Counts(StrictModel):
    total: int = Field(..., description="requests that completed in the window")
    succeeded: int
    failed: int
    error_rate: float | None = Field(..., description="failed / total; None when total is 0")
    errors: dict[str, int] = Field(..., description="failed requests by error kind")


class Throughput(StrictModel):
    requests_per_s: float = Field(..., description="successful requests / window seconds")
    output_tokens_per_s: float
    input_tokens_per_s: float
    sent_per_s: float = Field(..., description="requests sent inside the window / window s")
    goodput_per_s: float | None = Field(
        ..., description="successful requests meeting every per-request SLO threshold / s"
    )


class Latency(StrictModel):
    ttft: Dist
    tpot: Dist
    itl: Dist
    e2e: Dist
    e2e_with_queue: Dist
    queue: Dist
    ntpot: Dist


class Tokens(StrictModel):
    output_total: int
    input_total: int
    per_request_output: Dist
    usage_missing: int = Field(..., description="successes whose server sent no usage")
    mismatched: int = Field(..., description="successes where client and server counts differ")


class TimingError(StrictModel):
    """Client-side minus server-side timings, for requests that carried server timestamps."""

    requests: int
    ttft_ms: Dist
    gap_ms: Dist


class TimePoint(StrictModel):
    t_s: int = Field(..., description="second since run start")
    requests_ok: int
    errors: int
    output_tokens: int = Field(..., description="tokens whose chunk arrived in this second")
    concurrency: float = Field(..., description="mean requests in flight over the second")
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None


class Flag(StrictModel):
    code: str
    message: str


class Verdict(StrictModel):
    key: str = Field(..., description="'<metric>.<stat>' or 'error_rate'")
    limit: float
    observed: float | None
    passed: bool


class SLOResult(StrictModel):
    spec: SLOSpec
    passed: bool
    verdicts: list[Verdict]
    request_thresholds_ms: dict[str, float]


class StageSummary(StrictModel):
    name: str
    span: Span
    rate_rps: float | None
    concurrency: int | None
    counts: Counts
    throughput: Throughput
    latency: Latency


class GroupSummary(StrictModel):
    """The figures of the requests sharing one tag value: one model of a mix, one turn."""

    by: Literal["model", "turn"]
    key: str
    counts: Counts
    throughput: Throughput
    latency: Latency
    slo: SLOResult | None = Field(None, description="the model's own SLO, when it has one")


class Summary(StrictModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    definitions: dict[str, str]
    run: RunInfo
    counts: Counts
    throughput: Throughput
    latency: Latency
    tokens: Tokens
    timing_error: TimingError | None
    flags: list[Flag]
    slo: SLOResult | None
    stages: list[StageSummary]
    timeseries: list[TimePoint]
    groups: list[GroupSummary] = Field(
        default_factory=list, description="per model of a mix and per conversation turn"
    )

    def flag_codes(self) -> set[str]:
        return {f.code for f in self.flags}
