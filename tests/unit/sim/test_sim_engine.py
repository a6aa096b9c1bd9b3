"""The continuous-batching engine, driven by a fake clock: pure logic, no sleeps."""

from __future__ import annotations

import pytest

from servegate.sim.engine import BatchEngine, EngineConfig, Seq


def make(
    max_seqs: int = 4,
    kv: int = 1000,
    prefill: float = 0.0,
    base: float = 0.01,
    per_seq: float = 0.001,
) -> BatchEngine:
    return BatchEngine(EngineConfig(max_seqs, kv, prefill, base, per_seq))


def run_to_idle(engine: BatchEngine, t: float = 0.0) -> float:
    """Step until idle; returns the fake clock at the end."""
    for _ in range(100_000):
        dur = engine.begin_step(t)
        if dur is None:
            return t
        t += dur
        engine.end_step(t)
    raise AssertionError("engine never went idle")


def test_step_time_grows_with_batch_and_prefill() -> None:
    e = make(prefill=0.001, base=0.01, per_seq=0.002)
    e.add(Seq(prompt_tokens=10, output_tokens=3, arrival=0.0))
    e.add(Seq(prompt_tokens=20, output_tokens=3, arrival=0.0))
    first = e.begin_step(0.0)
    assert first is not None
    assert first == pytest.approx(0.01 + 2 * 0.002 + 30 * 0.001)
    e.end_step(first)
    second = e.begin_step(first)  # no new prompt: decode only
    assert second == pytest.approx(0.01 + 2 * 0.002)


def test_one_token_per_running_sequence_per_step() -> None:
    e = make()
    seqs = [Seq(5, n, 0.0) for n in (1, 3, 5)]
    for s in seqs:
        e.add(s)
    t = 0.0
    steps = 0
    while (dur := e.begin_step(t)) is not None:
        t += dur
        res = e.end_step(t)
        steps += 1
        assert all(s.generated == min(steps, s.output_tokens) for s in res.stepped)
    assert steps == 5
    assert [s.generated for s in seqs] == [1, 3, 5]
    assert all(s.done for s in seqs)


def test_max_num_seqs_caps_the_batch_fifo() -> None:
    e = make(max_seqs=2)
    seqs = [Seq(1, 4, float(i)) for i in range(5)]
    for s in seqs:
        e.add(s)
    e.begin_step(10.0)
    assert e.running == seqs[:2]
    assert list(e.waiting) == seqs[2:]
    run_to_idle(e, 10.0)
    admitted = [s.admitted_at for s in seqs]
    assert all(a is not None for a in admitted)
    assert admitted == sorted(admitted)  # type: ignore[type-var]
    assert admitted[0] == admitted[1] < admitted[2]  # type: ignore[operator]


def test_kv_capacity_blocks_admission_until_freed() -> None:
    e = make(max_seqs=10, kv=100)
    big = Seq(50, 10, 0.0)  # reserves 60
    nxt = Seq(40, 5, 0.0)  # reserves 45: does not fit beside the first
    e.add(big)
    e.add(nxt)
    t = 0.0
    dur = e.begin_step(t)
    assert dur is not None
    assert e.running == [big] and list(e.waiting) == [nxt]
    while nxt.admitted_at is None:
        t += dur
        e.end_step(t)
        dur = e.begin_step(t)
        assert dur is not None
    assert big.done and big.generated == 10
    assert nxt.admitted_at == pytest.approx(big.last_token_at)


def test_kv_usage_counts_prompt_plus_generated_and_returns_to_zero() -> None:
    e = make(kv=1000)
    s = Seq(100, 10, 0.0)
    e.add(s)
    t = e.begin_step(0.0)
    assert t is not None
    assert e.kv_used == 100
    e.end_step(t)
    assert e.kv_used == 101
    assert e.kv_usage == pytest.approx(0.101)
    run_to_idle(e, t)
    assert e.kv_used == 0 and e.kv_reserved == 0


def test_remove_frees_slot_and_kv() -> None:
    e = make(max_seqs=1)
    a, b = Seq(10, 100, 0.0), Seq(10, 2, 0.0)
    e.add(a)
    e.add(b)
    t = e.begin_step(0.0)
    assert t is not None
    e.end_step(t)
    e.remove(a)
    assert e.running == [] and e.kv_used == 0 and e.kv_reserved == 0
    e.begin_step(t)
    assert e.running == [b]
    e.remove(b)
    e.remove(b)  # twice is harmless
    assert e.idle


def test_remove_waiting_sequence() -> None:
    e = make(max_seqs=1)
    a, b = Seq(1, 5, 0.0), Seq(1, 5, 0.0)
    e.add(a)
    e.add(b)
    e.remove(b)
    assert list(e.waiting) == [a]


def test_ttft_and_itl_come_from_step_times() -> None:
    e = make(base=0.02, per_seq=0.0, prefill=0.001)
    s = Seq(100, 3, arrival=0.0)
    e.add(s)
    t = e.begin_step(0.0)
    assert t is not None
    res = e.end_step(t)
    assert s.first_token_at == pytest.approx(0.02 + 0.1)
    assert res.itl_count == 0
    t2 = e.begin_step(t)
    assert t2 is not None
    res = e.end_step(t + t2)
    assert res.itl_count == 1 and res.itl_gap == pytest.approx(0.02)


def test_oversized_sequence_is_refused() -> None:
    e = make(kv=100)
    s = Seq(90, 20, 0.0)
    assert not e.fits(s)
    with pytest.raises(ValueError):
        e.add(s)
