"""Progress counts and per-step latency sketches, shipped from workers to the master.

Workers fold each finished request into a :class:`WorkerTally` and send its delta every
half second as a Locust custom message; the master adds the deltas into a
:class:`MasterTally`. Latencies travel as DDSketches (servegate.metrics.sketch), so merging
is exact up to the sketch's relative accuracy and nothing is averaged across workers.
Sweeps and SLO searches judge each step from these merged sketches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from servegate.config.profile import Criteria
from servegate.metrics.derive import derive
from servegate.metrics.record import RequestRecord
from servegate.metrics.sketch import from_json, merge, new_sketch, to_json

METRICS = ("ttft", "tpot", "e2e")


@dataclass
class StepTally:
    n: int = 0
    errors: int = 0
    dropped: int = 0
    scheduled: int = 0  # open loop: arrivals the pacer scheduled (sent or dropped)
    sketches: dict[str, Any] = field(default_factory=dict)

    def add_latency(self, metric: str, value_ms: float) -> None:
        sk = self.sketches.get(metric)
        if sk is None:
            sk = self.sketches[metric] = new_sketch()
        sk.add(max(value_ms, 0.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "errors": self.errors,
            "dropped": self.dropped,
            "scheduled": self.scheduled,
            "sketches": {k: to_json(v) for k, v in self.sketches.items()},
        }

    def merge_json(self, d: dict[str, Any]) -> None:
        self.n += int(d.get("n", 0))
        self.errors += int(d.get("errors", 0))
        self.dropped += int(d.get("dropped", 0))
        self.scheduled += int(d.get("scheduled", 0))
        for k, v in dict(d.get("sketches", {})).items():
            other = from_json(v)
            mine = self.sketches.get(k)
            self.sketches[k] = other if mine is None else merge([mine, other])

    def quantile(self, metric: str, q: float) -> float | None:
        sk = self.sketches.get(metric)
        if sk is None or sk.count == 0:
            return None
        v = sk.get_quantile_value(q)
        return float(v) if v is not None else None


@dataclass
class WorkerTally:
    worker: str
    done: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    out_tokens: int = 0
    steps: dict[int, StepTally] = field(default_factory=dict)

    def add(self, rec: RequestRecord, step: int, measured: bool) -> None:
        self.done += 1
        if rec.error is not None:
            self.errors[rec.error.value] += 1
        else:
            self.out_tokens += rec.completion_tokens or rec.client_tokens
        if not measured:
            return
        st = self.steps.setdefault(step, StepTally())
        st.n += 1
        if rec.error is not None:
            st.errors += 1
            return
        d = derive(rec)
        for metric in METRICS:
            v = getattr(d, metric)
            if v is not None:
                st.add_latency(metric, v)

    def schedule(self, step: int, measured: bool) -> None:
        if measured:
            self.steps.setdefault(step, StepTally()).scheduled += 1

    def drop(self, step: int, measured: bool) -> None:
        self.dropped += 1
        if measured:
            self.steps.setdefault(step, StepTally()).dropped += 1

    def take(self, in_flight: int, cut_off: int = 0) -> dict[str, Any]:
        """The delta since the last call, as a message body; resets the counters.
        ``in_flight`` (requests under way) and ``cut_off`` (requests that ended without a
        record, since the start: stopped with the run) are the worker's current values."""
        msg = {
            "worker": self.worker,
            "done": self.done,
            "errors": dict(self.errors),
            "dropped": self.dropped,
            "out_tokens": self.out_tokens,
            "in_flight": in_flight,
            "cut_off": cut_off,
            "steps": {str(k): v.to_json() for k, v in self.steps.items()},
        }
        self.done, self.dropped, self.out_tokens = 0, 0, 0
        self.errors = Counter()
        self.steps = {}
        return msg


@dataclass
class Verdict:
    passed: bool
    reason: str
    figures: dict[str, float | None]


@dataclass
class MasterTally:
    done: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    out_tokens: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)
    cut_off: dict[str, int] = field(default_factory=dict)
    steps: dict[int, StepTally] = field(default_factory=dict)

    def merge(self, msg: dict[str, Any]) -> None:
        self.done += int(msg.get("done", 0))
        self.errors.update({str(k): int(v) for k, v in dict(msg.get("errors", {})).items()})
        self.dropped += int(msg.get("dropped", 0))
        self.out_tokens += int(msg.get("out_tokens", 0))
        self.in_flight[str(msg.get("worker", "?"))] = int(msg.get("in_flight", 0))
        self.cut_off[str(msg.get("worker", "?"))] = int(msg.get("cut_off", 0))
        for k, v in dict(msg.get("steps", {})).items():
            self.steps.setdefault(int(k), StepTally()).merge_json(v)

    def verdict(
        self, step: int, criteria: Criteria, seconds: float, offered_rate: float | None
    ) -> Verdict:
        """Did ``step`` meet ``criteria``? ``offered_rate`` is set for open-loop runs."""
        st = self.steps.get(step, StepTally())
        figures: dict[str, float | None] = {
            "requests": float(st.n),
            "errors": float(st.errors),
            "dropped": float(st.dropped),
            "ttft_p99_ms": st.quantile("ttft", 0.99),
            "tpot_p99_ms": st.quantile("tpot", 0.99),
            "e2e_p99_ms": st.quantile("e2e", 0.99),
            "achieved_rps": (st.n - st.errors) / seconds if seconds > 0 else None,
        }
        if st.n == 0:
            return Verdict(False, "no request completed in the step", figures)
        attempted = st.n + st.dropped
        err_rate = (st.errors + st.dropped) / attempted
        if err_rate > criteria.max_error_rate:
            return Verdict(False, f"error rate {err_rate:.3f} > {criteria.max_error_rate}", figures)
        if offered_rate is not None and seconds > 0:
            # against the arrivals actually scheduled, so Poisson noise does not count as lag;
            # requests still unanswered when the step is judged count as not achieved
            expected = st.scheduled if st.scheduled else offered_rate * seconds
            ratio = (st.n - st.errors) / expected
            if ratio < criteria.min_achieved_ratio:
                return Verdict(False, f"achieved {ratio:.2f} of the offered rate", figures)
        for key, limit in (
            ("ttft_p99_ms", criteria.ttft_p99_ms),
            ("tpot_p99_ms", criteria.tpot_p99_ms),
            ("e2e_p99_ms", criteria.e2e_p99_ms),
        ):
            val = figures[key]
            if limit is not None and val is not None and val > limit:
                return Verdict(False, f"{key} {val:.1f} > {limit:g}", figures)
        return Verdict(True, "met every criterion", figures)

    def snapshot(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "errors": dict(self.errors),
            "error_total": sum(self.errors.values()),
            "dropped": self.dropped,
            "out_tokens": self.out_tokens,
            "in_flight": sum(self.in_flight.values()),
            # requests sent that have no record: stopped with the run, or still under way
            # at the worker's last report (the server may have worked on each)
            "unrecorded": sum(self.in_flight.values()) + sum(self.cut_off.values()),
        }
