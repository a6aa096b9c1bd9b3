from __future__ import annotations

from pathlib import Path

import pytest

from servegate.config.slo import PRESETS, SLOSpec, load_slo, slo_preset
from servegate.errors import ConfigError
from servegate.metrics.slo_eval import evaluate
from servegate.metrics.stats import summarize
from servegate.metrics.summary import Counts, Latency

SLO_DIR = Path(__file__).resolve().parents[3] / "loadprofiles" / "slo"


@pytest.mark.parametrize(
    ("name", "ttft", "tpot"),
    [
        ("mlperf-llama2-70b-server", 2000, 200),
        ("mlperf-llama2-70b-interactive", 450, 40),
        ("mlperf-llama3.1-8b-server", 2000, 100),
        ("mlperf-llama3.1-8b-interactive", 500, 30),
    ],
)
def test_mlperf_presets(name: str, ttft: float, tpot: float) -> None:
    spec = slo_preset(name)
    assert {lim.key: lim.max_ms for lim in spec.limits} == {"ttft.p99": ttft, "tpot.p99": tpot}


def test_preset_copies_are_independent() -> None:
    slo_preset("mlperf-llama2-70b-server").limits.clear()
    assert PRESETS["mlperf-llama2-70b-server"].limits


def test_example_files_validate_and_the_mlperf_one_matches_its_preset() -> None:
    files = sorted(SLO_DIR.glob("*.yaml"))
    assert files
    specs = {f.stem: load_slo(f) for f in files}
    assert specs["mlperf-llama3.1-8b-server"] == slo_preset("mlperf-llama3.1-8b-server")


def test_unknown_preset_and_missing_file() -> None:
    with pytest.raises(ConfigError, match="known"):
        slo_preset("nope")
    with pytest.raises(ConfigError, match="preset"):
        load_slo("nope")
    with pytest.raises(ConfigError, match="no such file"):
        load_slo("/nonexistent/slo.yaml")


def test_typo_is_an_error_naming_file_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "slo.yaml"
    p.write_text("name: x\nlimits:\n  - metric: ttft\n    max_msec: 5\n")
    with pytest.raises(ConfigError) as exc:
        load_slo(p)
    assert f"{p}:4: limits.0.max_msec: unknown field" in str(exc.value)


def test_rejects_duplicates_empty_and_bad_values() -> None:
    lim = {"metric": "ttft", "stat": "p99", "max_ms": 1}
    with pytest.raises(ValueError, match="duplicate"):
        SLOSpec.model_validate({"name": "x", "limits": [lim, lim]})
    with pytest.raises(ValueError, match="at least one"):
        SLOSpec.model_validate({"name": "x"})
    with pytest.raises(ValueError):
        SLOSpec.model_validate({"name": "x", "limits": [{**lim, "max_ms": 0}]})
    with pytest.raises(ValueError):
        SLOSpec.model_validate({"name": "x", "max_error_rate": 1.5})


def test_request_thresholds_take_the_loosest_and_skip_itl() -> None:
    spec = SLOSpec.model_validate(
        {
            "name": "x",
            "limits": [
                {"metric": "ttft", "stat": "p50", "max_ms": 100},
                {"metric": "ttft", "stat": "p99", "max_ms": 300},
                {"metric": "itl", "stat": "p99", "max_ms": 50},
            ],
        }
    )
    assert spec.request_thresholds() == {"ttft": 300}


def test_evaluate_reports_observed_values() -> None:
    lat = Latency(
        ttft=summarize([100.0, 200.0, 300.0]),
        tpot=summarize([10.0]),
        itl=summarize([]),
        e2e=summarize([1.0]),
        e2e_with_queue=summarize([1.0]),
        queue=summarize([]),
        ntpot=summarize([1.0]),
    )
    counts = Counts(total=10, succeeded=9, failed=1, error_rate=0.1, errors={"timeout": 1})
    spec = SLOSpec.model_validate(
        {
            "name": "x",
            "max_error_rate": 0.05,
            "limits": [
                {"metric": "ttft", "stat": "p50", "max_ms": 200},
                {"metric": "tpot", "stat": "max", "max_ms": 5},
                {"metric": "itl", "stat": "p99", "max_ms": 50},
            ],
        }
    )
    res = evaluate(spec, lat, counts)
    got = {v.key: (v.observed, v.passed) for v in res.verdicts}
    assert got == {
        "ttft.p50": (200.0, True),
        "tpot.max": (10.0, False),
        "itl.p99": (None, False),  # no samples cannot pass
        "error_rate": (0.1, False),
    }
    assert not res.passed
