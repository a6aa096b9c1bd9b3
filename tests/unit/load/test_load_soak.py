"""The soak's verdicts (servegate.load.soak) on made-up series, and how it tells the
processes of a run apart by the command lines the runner and the simulator really use."""

from __future__ import annotations

from servegate.load.runner import _locust, worker_argv
from servegate.load.soak import Sample, Series, records_verdict, role_of, rss_verdict
from servegate.sim.process import SimProcess

MIB = 1024 * 1024


def _series(rss: list[int], per_request: list[int] | None = None) -> Series:
    """One sample every 10 s, 30 requests between samples."""
    out = Series()
    done, size = 0, 0
    for i, r in enumerate(rss):
        done += 30
        size += 30 * (per_request[i] if per_request else 1500)
        out.samples.append(Sample(i * 10.0, {"master": r, "worker-1": 64 * MIB}, done, size))
    return out


def test_roles_from_the_real_command_lines() -> None:
    assert role_of(_locust("--master", "--headless")) == "master"
    assert role_of(worker_argv("127.0.0.1", 5557)) == "worker"
    assert role_of(SimProcess(port=0)._argv()) == "sim"
    assert role_of(["/work/.venv/bin/python", "/work/.venv/bin/servegate", "run", "-p"]) == "cli"
    assert role_of(["/usr/bin/python3", "-m", "pytest"]) is None
    assert role_of(["/usr/bin/python3", "-m", "servegate", "report", "x"]) is None


def test_flat_memory_passes_and_growth_past_ten_percent_fails() -> None:
    warm = [200 * MIB] * 10  # warm-up: ignored, however high
    flat = _series(warm + [60 * MIB + (i % 3) * MIB for i in range(100)])
    verdicts = {v.role: v for v in rss_verdict(flat, warmup_s=100.0)}
    assert set(verdicts) == {"master", "worker-1"}
    assert verdicts["master"].passed and abs(verdicts["master"].growth) < 0.05
    leak = _series(warm + [60 * MIB + i * MIB // 10 for i in range(100)])  # +9.9 MiB by the end
    v = next(v for v in rss_verdict(leak, warmup_s=100.0) if v.role == "master")
    assert not v.passed and v.growth > 0.10
    assert v.baseline == 60 * MIB + 2 * MIB // 10  # the median of the first five samples
    assert v.peak == 60 * MIB + 99 * MIB // 10


def test_too_few_samples_after_warmup_give_no_rss_verdict() -> None:
    assert rss_verdict(_series([60 * MIB] * 10), warmup_s=50.0) == []


def test_records_growing_with_requests_pass_and_a_change_per_request_fails() -> None:
    steady = records_verdict(_series([MIB] * 40), warmup_s=0.0)
    assert steady.passed and steady.drift == 0.0 and steady.bytes_per_request_first == 1500
    assert steady.r2 is not None and steady.r2 > 0.999999
    growing = records_verdict(_series([MIB] * 40, [1500] * 20 + [2000] * 20), warmup_s=0.0)
    assert not growing.passed
    assert growing.drift is not None and 0.30 < growing.drift < 0.34
    assert "bytes per request moved" in growing.reason


def test_records_verdict_needs_samples() -> None:
    assert not records_verdict(Series(), warmup_s=0.0).passed
