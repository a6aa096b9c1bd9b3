"""The simulator's Prometheus metrics under vLLM's and DCGM's names.

The hot path only bumps plain Python numbers (a histogram observation is one bisect, and a
decode step observes its shared inter-token gap once with a count); prometheus_client
renders the text format from a custom collector at scrape time. Using its Histogram
objects directly would take a lock per token and cost a good share of the token budget.
"""

from __future__ import annotations

import socket
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

# Histogram bucket bounds, in seconds.
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
ITL_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
)  # fmt: skip
REQ_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip


class Hist:
    """A cumulative-at-scrape histogram with Prometheus ``le`` semantics."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float, n: int = 1) -> None:
        self.counts[bisect_left(self.bounds, value)] += n
        self.total += value * n
        self.count += n

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        acc = 0
        for bound, c in zip((*self.bounds, float("inf")), self.counts, strict=True):
            acc += c
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(acc)))
        return out


@dataclass(slots=True)
class LiveState:
    """Gauges read at scrape time from whichever latency model runs."""

    running: int = 0
    waiting: int = 0
    kv_usage: float = 0.0  # 0..1


class SimMetrics:
    def __init__(
        self,
        model_name: str,
        max_num_seqs: int,
        weights_mib: float,
        kv_mib: float,
        live: Callable[[], LiveState],
    ) -> None:
        self.model_name = model_name
        self.max_num_seqs = max_num_seqs
        self.weights_mib = weights_mib
        self.kv_mib = kv_mib
        self.live = live
        self.ttft = Hist(TTFT_BUCKETS)
        self.itl = Hist(ITL_BUCKETS)
        self.e2e = Hist(REQ_BUCKETS)
        self.queue = Hist(REQ_BUCKETS)
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success: dict[str, int] = {"stop": 0, "length": 0, "abort": 0}
        self.connections = 0  # TCP connections accepted (servegate's own metric)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        self.hostname = socket.gethostname()

    def request_done(self, reason: str, prompt: int, generated: int, e2e: float) -> None:
        self.success[reason] = self.success.get(reason, 0) + 1
        self.prompt_tokens += prompt
        self.generation_tokens += generated
        self.e2e.observe(e2e)

    def connection_opened(self) -> None:
        self.connections += 1

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    def __init__(self, m: SimMetrics) -> None:
        self.m = m

    def collect(self) -> Iterator[Metric]:
        m = self.m
        lab = ["model_name"]
        val = [m.model_name]
        live = m.live()

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=lab)
            g.add_metric(val, value)
            return g

        yield gauge("vllm:num_requests_running", "Requests in the running batch.", live.running)
        yield gauge("vllm:num_requests_waiting", "Requests waiting for admission.", live.waiting)
        yield gauge("vllm:kv_cache_usage_perc", "KV-cache usage, 1 = full.", live.kv_usage)
        yield gauge(
            "vllm:gpu_cache_usage_perc", "Older name of kv_cache_usage_perc.", live.kv_usage
        )

        def hist(name: str, doc: str, h: Hist) -> HistogramMetricFamily:
            f = HistogramMetricFamily(name, doc, labels=lab)
            f.add_metric(val, h.cumulative(), h.total)
            return f

        yield hist("vllm:time_to_first_token_seconds", "Time to first token.", m.ttft)
        yield hist("vllm:inter_token_latency_seconds", "Inter-token latency.", m.itl)
        yield hist("vllm:time_per_output_token_seconds", "Older name of ITL.", m.itl)
        yield hist("vllm:e2e_request_latency_seconds", "End-to-end request latency.", m.e2e)
        yield hist("vllm:request_queue_time_seconds", "Time spent waiting.", m.queue)

        c = CounterMetricFamily("vllm:prompt_tokens", "Prefill tokens processed.", labels=lab)
        c.add_metric(val, m.prompt_tokens)
        yield c
        c = CounterMetricFamily("vllm:generation_tokens", "Tokens generated.", labels=lab)
        c.add_metric(val, m.generation_tokens)
        yield c
        c = CounterMetricFamily(
            "vllm:request_success", "Finished requests.", labels=[*lab, "finished_reason"]
        )
        for reason, n in sorted(m.success.items()):
            c.add_metric([*val, reason], n)
        yield c

        yield CounterMetricFamily(
            "servegate_sim_connections",
            "TCP connections the simulator accepted (shows connection churn).",
            value=m.connections,
        )

        dlab = ["gpu", "UUID", "device", "modelName", "Hostname"]
        dval = [
            "0",
            "GPU-00000000-5e57-0000-0000-000000000000",
            "nvidia0",
            "Simulated GPU",
            m.hostname,
        ]
        util = GaugeMetricFamily("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", labels=dlab)
        util.add_metric(dval, round(100.0 * min(1.0, live.running / m.max_num_seqs)))
        yield util
        fb = GaugeMetricFamily(
            "DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", labels=dlab
        )
        fb.add_metric(dval, round(m.weights_mib + m.kv_mib * live.kv_usage))
        yield fb
