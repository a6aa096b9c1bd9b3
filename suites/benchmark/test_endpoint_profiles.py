"""Benchmarks of an OpenAI-compatible endpoint under the shipped load profiles.

With no ``--endpoint`` and no cluster, the endpoint is the simulator that the session starts on
loopback; against a cluster, the pattern suites pass their deployed Service instead. Each run
writes ``results/<run-id>/<profile>-.../`` with summary.json and the reports.

The profiles name the loopback simulator's model; every run asks the endpoint's /v1/models
for the model it serves instead (a deployed unit serves its own name).

Setup: the ``endpoint`` fixture. Assess: run the profile, then check that the figures are
trustworthy (no load-generator saturation, token counts agree) and that the SLO holds.
Teardown: the load engine ends its processes; the session fixture stops the simulator.
"""

from __future__ import annotations

import pytest

from servegate.checks.patterns.trust import slo_misses, why_untrusted
from servegate.harness.load import RunProfile

# (profile, SLO preset or file). The simulator's default model stalls decoding for each new
# prompt's prefill (no chunked prefill), so per-token ITL p99 is several decode steps long:
# an interactive ITL limit fails on it, as it would on such a server. The MLPerf server
# limits (p99 TTFT / p99 TPOT) are the reference here.
CASES = [
    ("chat-steady", "mlperf-llama3.1-8b-server"),
    ("chat-poisson", "mlperf-llama3.1-8b-server"),
    ("completions", "mlperf-llama3.1-8b-server"),
    ("embeddings", None),
]


@pytest.mark.benchmark
@pytest.mark.parametrize(("profile", "slo"), CASES, ids=[c[0] for c in CASES])
def test_profile_meets_slo(
    run_profile: RunProfile, endpoint: str, profile: str, slo: str | None
) -> None:
    res = run_profile(profile, endpoint, slo=slo, model="auto")
    s = res.summary
    doubts = why_untrusted(res)
    assert not doubts, "; ".join(doubts)
    if s.slo is not None:
        assert s.slo.passed, slo_misses(s)


@pytest.mark.benchmark
def test_sweep_to_saturation(run_profile: RunProfile, endpoint: str) -> None:
    """Open-loop rate sweep: throughput must grow with offered load until saturation."""
    res = run_profile("sweep", endpoint, model="auto")
    s = res.summary
    assert len(s.stages) >= 2, f"the sweep produced {len(s.stages)} stage(s)"
    rates = [st.throughput.requests_per_s for st in s.stages]
    # The first two steps are far below any server's saturation: achieved rate must rise.
    assert rates[1] > rates[0], f"throughput did not rise with offered load: {rates}"
