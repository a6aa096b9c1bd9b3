"""guidellm's and inference-perf's JSON results read as comparison sides (servegate units)."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.report.peers import load_side

PEERS = Path(__file__).parent / "peer_samples"


def test_guidellm_benchmark_maps_onto_servegate_definitions() -> None:
    side = load_side(f"{PEERS / 'guidellm-two-rates.json'}#1")
    assert (side.source, side.profile_name) == ("guidellm", "guidellm constant@4")
    # benchmark #1 scales the TTFT distribution of the sample by 1.5: p99 80 ms -> 120 ms
    assert side.mean("ttft.p99") == pytest.approx(120.0)
    assert side.mean("ttft.p99_9") == pytest.approx(123.0)  # guidellm's p999
    # guidellm's inter_token_latency_ms is servegate's TPOT; time_per_output_token_ms is NTPOT
    assert side.mean("tpot.p50") == pytest.approx(10.0)
    assert side.mean("ntpot.p99") == pytest.approx(13.0)
    # request_latency is in seconds: 0.45 s -> 450 ms
    assert side.mean("e2e.p99") == pytest.approx(450.0)
    assert side.mean("throughput.output_tokens_per_s") == pytest.approx(96.0)
    assert side.mean("error_rate") == pytest.approx(10 / 100)  # 10 errored of 100
    assert "itl.p99" not in side.values  # guidellm has no per-token gap distribution


def test_inference_perf_stage_maps_seconds_to_milliseconds() -> None:
    side = load_side(PEERS / "inference-perf-stage_0_lifecycle_metrics.json")
    assert (side.source, side.profile_name) == ("inference-perf", "inference-perf @1 req/s")
    assert side.mean("ttft.p50") == pytest.approx(32.9)  # "median" 0.0329 s
    assert side.mean("ttft.p99_9") == pytest.approx(42.6)  # "p99.9"
    assert side.mean("tpot.p99") == pytest.approx(3.55)
    assert side.mean("itl.p90") == pytest.approx(7.16)
    assert side.mean("e2e.max") == pytest.approx(494.3)
    assert side.mean("throughput.requests_per_s") == pytest.approx(0.9969)
    assert side.mean("error_rate") == pytest.approx(3 / 60)  # 3 failures, 57 successes
