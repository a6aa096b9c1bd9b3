"""The ceiling search and knee detection, fed synthetic probe results (no processes)."""

from __future__ import annotations

import pytest

from servegate.load.calibrate import (
    Criteria,
    SearchPlan,
    find_knee,
    judge,
    next_rate,
    probe_result,
    timing_error_figures,
)
from servegate.load.calibration_file import ProbeResult
from servegate.metrics.record import ErrorKind, RequestRecord

MS = 1_000_000
CRIT = Criteria(min_achieved_ratio=0.95, lag_p50_limit_ms=1.0, lag_p99_limit_ms=20.0)


def probe(
    target: float, ok: bool, chunks_per_req: int = 32, reasons: list[str] | None = None
) -> ProbeResult:
    sent = target if ok else target * 0.7
    return ProbeResult(
        target_rps=target,
        sent_rps=sent,
        completed_rps=sent,
        chunks_per_s=sent * chunks_per_req,
        lag_p50_ms=0.2 if ok else 9.0,
        lag_p99_ms=1.0 if ok else 50.0,
        passed=ok,
        reasons=[] if ok else (reasons or ["sent too little"]),
    )


def simulate(capacity: float, plan: SearchPlan) -> list[ProbeResult]:
    """Drive the search against a generator that keeps up exactly below ``capacity``."""
    probes: list[ProbeResult] = []
    while (rate := next_rate(probes, plan)) is not None:
        probes.append(probe(rate, rate <= capacity))
    return probes


@pytest.mark.parametrize("capacity", [37.0, 180.0, 333.0, 1234.0])
def test_search_brackets_the_capacity_within_tolerance(capacity: float) -> None:
    plan = SearchPlan(start_rps=25, max_rps=20000, tolerance=0.05, max_probes=30)
    probes = simulate(capacity, plan)
    knee = find_knee(probes, plan)
    assert knee.bound_by == "generator"
    assert knee.first_failure_rps is not None
    assert knee.ceiling_rps <= capacity < knee.first_failure_rps
    assert (knee.first_failure_rps - knee.ceiling_rps) <= 0.05 * knee.first_failure_rps
    assert knee.ceiling_chunks_per_s == pytest.approx(knee.ceiling_rps * 32)


def test_search_doubles_then_bisects() -> None:
    plan = SearchPlan(start_rps=25, max_rps=20000, tolerance=0.05, max_probes=30)
    rates = [p.target_rps for p in simulate(180.0, plan)]
    assert rates[:5] == [25, 50, 100, 200, 200]  # the first failure is probed twice
    assert rates[5] == 150  # midway between the best pass (100) and the failing rate (200)


def test_search_stops_at_max_rate_and_says_so() -> None:
    plan = SearchPlan(start_rps=100, max_rps=300, tolerance=0.1, max_probes=10)
    probes = simulate(10_000.0, plan)
    assert [p.target_rps for p in probes] == [100, 200, 300]
    knee = find_knee(probes, plan)
    assert knee.bound_by == "max_rate"
    assert knee.ceiling_rps == 300
    assert knee.first_failure_rps is None


def test_failing_first_probe_steps_down() -> None:
    plan = SearchPlan(start_rps=100, max_rps=20000, tolerance=0.1, max_probes=20)
    probes = simulate(10.0, plan)
    assert [p.target_rps for p in probes[:3]] == [100, 100, 25]
    assert not probes[0].passed and not probes[1].passed
    knee = find_knee(probes, plan)
    assert 0 < knee.ceiling_rps <= 10.0 < (knee.first_failure_rps or 0)


def test_nothing_passes_gives_zero_ceiling() -> None:
    plan = SearchPlan(start_rps=8, max_rps=100, tolerance=0.1, max_probes=10)
    probes = simulate(0.5, plan)
    assert [p.target_rps for p in probes] == [8, 8, 2, 2]  # 0.5 would be below 1 req/s
    assert find_knee(probes, plan).ceiling_rps == 0.0


def test_a_lucky_pass_above_a_failure_does_not_raise_the_ceiling() -> None:
    plan = SearchPlan()
    probes = [probe(100, True), probe(200, False), probe(200, False), probe(400, True)]
    knee = find_knee(probes, plan)
    assert knee.ceiling_rps == 100
    assert knee.first_failure_rps == 200
    assert next_rate(probes, plan) == 150


def test_one_noisy_failure_is_retried_and_outweighed_by_a_pass() -> None:
    plan = SearchPlan(start_rps=25, max_rps=20000, tolerance=0.1, max_probes=20)
    probes = [probe(25, True), probe(50, False)]
    assert next_rate(probes, plan) == 50  # confirm before believing
    probes.append(probe(50, True))
    assert next_rate(probes, plan) == 100  # the pass wins; keep doubling
    assert find_knee(probes, plan).ceiling_rps == 50


def test_unconfirmed_failure_still_bounds_the_knee_when_probes_run_out() -> None:
    plan = SearchPlan(max_probes=3)
    probes = [probe(25, True), probe(50, True), probe(100, False)]
    assert next_rate(probes, plan) is None
    knee = find_knee(probes, plan)
    assert knee.ceiling_rps == 50 and knee.first_failure_rps == 100


def test_simulator_bound_is_reported() -> None:
    plan = SearchPlan()
    busy = ["x", "simulator busy (97% of a core)"]
    probes = [probe(100, True), probe(200, False, reasons=busy), probe(200, False)]
    assert find_knee(probes, plan).bound_by == "simulator"


def test_max_probes_ends_the_search() -> None:
    plan = SearchPlan(start_rps=25, max_rps=20000, tolerance=0.001, max_probes=5)
    assert len(simulate(1000.0, plan)) == 5


def test_judge_uses_growth_over_idle_lag() -> None:
    # 2.5 ms median lag fails against a zero baseline, passes against an idle 2.0 ms
    assert judge(100, 100, 0, 400, 0, 2.5, 10.0, CRIT)
    assert not judge(100, 100, 0, 400, 0, 2.5, 10.0, CRIT, baseline=(2.0, 5.0))
    assert any("p99" in r for r in judge(100, 100, 0, 400, 0, 0.1, 40.0, CRIT, (0.0, 5.0)))


def test_judge_flags_shortfall_drops_and_errors() -> None:
    reasons = judge(100, 90, 3, 200, 7, 0.1, 1.0, CRIT)
    assert any(r.startswith("sent 90.0 of 100.0") for r in reasons)
    assert "7 arrivals dropped" in reasons
    assert "3 errors" in reasons
    assert judge(100, 96, 0, 400, 0, 0.1, 1.0, CRIT) == []


def rec(i: int, sched_ms: float, lag_ms: float, ok: bool = True) -> RequestRecord:
    sched = int(1_000 * MS + sched_ms * MS)
    sent = sched + int(lag_ms * MS)
    return RequestRecord(
        request_id=str(i),
        api="chat",
        stream=True,
        sent_ns=sent,
        end_ns=sent + 20 * MS,
        scheduled_ns=sched,
        chunks=[(5 * MS, 1), (6 * MS, 1), (7 * MS, 1)] if ok else [],
        error=None if ok else ErrorKind.HTTP_5XX,
        server_recv_ns=sent + MS // 10,
        server_chunk_ns=[sent + 4 * MS, sent + 5 * MS + MS // 2, sent + 6 * MS + MS // 2],
        server_first_ns=sent + 4 * MS,
    )


def test_probe_result_counts_only_requests_scheduled_in_the_window() -> None:
    # 10 req/s for 2 s inside the window, plus warm-up requests before it
    recs = [rec(i, -500 + 100 * i, 0.3) for i in range(5)]
    recs += [rec(100 + i, 100 * i, 0.3 + (i % 2)) for i in range(20)]
    window = (1_000 * MS, 1_000 * MS + 2_000 * MS)
    res = probe_result(recs, 10.0, window, dropped=0, criteria=CRIT)
    assert res.sent_rps == pytest.approx(10.0)
    assert res.chunks_per_s == pytest.approx(30.0)
    assert res.lag_p50_ms == pytest.approx(0.8)  # type-7 median of ten 0.3 and ten 1.3
    assert res.passed, res.reasons


def test_probe_result_marks_busy_simulator() -> None:
    recs = [rec(i, 100 * i, 0.3, ok=i % 2 == 0) for i in range(20)]
    window = (1_000 * MS, 1_000 * MS + 2_000 * MS)
    res = probe_result(recs, 10.0, window, 0, CRIT, generator_cpu=0.4, simulator_cpu=0.99)
    assert not res.passed
    assert res.errors == 10
    assert res.reasons[-1].startswith("simulator busy")


def test_timing_error_figures_are_absolute_client_minus_server() -> None:
    recs = [rec(i, 100 * i, 0.3) for i in range(10)]
    te = timing_error_figures(recs, 5.0)
    assert te.requests == 10
    # client TTFT 5 ms vs server 4 - 0.1 = 3.9 ms -> 1.1 ms; gaps: 1 vs 1.5 and 1 vs 1.0
    assert te.ttft_abs_p50_ms == pytest.approx(1.1)
    assert te.gap_abs_p99_ms == pytest.approx(0.5, abs=0.01)
    assert te.gap_abs_p50_ms == pytest.approx(0.25)
