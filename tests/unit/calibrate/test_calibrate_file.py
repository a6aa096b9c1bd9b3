"""Calibration file: round trip, default location, bad files as one-line errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from servegate.errors import ConfigError
from servegate.load.calibration_file import (
    Calibration,
    CalibrationSettings,
    ProbeResult,
    TimingErrorFigures,
    default_path,
    exceeds_ceiling,
    load_calibration,
    save_calibration,
)


def sample() -> Calibration:
    return Calibration(
        created="2026-01-01T00:00:00Z",
        host={"host": "h", "cpus": "2"},
        workers=2,
        ceiling_rps_per_worker=150.0,
        ceiling_chunks_per_s_per_worker=4800.0,
        bound_by="generator",
        settings=CalibrationSettings(
            prompt_tokens=32,
            output_tokens=32,
            step_duration_s=4,
            min_achieved_ratio=0.95,
            lag_p50_limit_ms=1,
            lag_p99_limit_ms=20,
            idle_rps=5,
            idle_lag_p50_ms=0.2,
            idle_lag_p99_ms=1.5,
            pinned=True,
        ),
        probes=[
            ProbeResult(
                target_rps=300, sent_rps=299, completed_rps=299, chunks_per_s=9568, passed=True
            )
        ],
        timing_error=TimingErrorFigures(
            rate_rps=150,
            requests=900,
            ttft_abs_p50_ms=0.2,
            ttft_abs_p99_ms=0.9,
            gap_abs_p50_ms=0.01,
            gap_abs_p99_ms=0.3,
        ),
    )


def test_round_trip(tmp_path: Path) -> None:
    cal = sample()
    path = save_calibration(cal, tmp_path / "sub" / "cal.json")
    assert path.exists()
    assert load_calibration(path) == cal
    assert not list(path.parent.glob(".calibration-*"))  # no temp file left behind


def test_default_path_respects_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "servegate" / "calibration.json"
    assert load_calibration() is None  # no default file: not an error
    save_calibration(sample())
    loaded = load_calibration()
    assert loaded is not None and loaded.ceiling_rps(4) == pytest.approx(600.0)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".cache" / "servegate" / "calibration.json"


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"calibration file not found"):
        load_calibration(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", r"bad\.json: not JSON"),
        (b"[1, 2]", r"bad\.json: expected a JSON object, got list"),
        (b'{"version": 99}', r"bad\.json: version: unsupported calibration format 99"),
        (b"", r"bad\.json: not JSON"),
    ],
)
def test_garbage_gives_one_line_error(tmp_path: Path, content: bytes, expected: str) -> None:
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(ConfigError, match=expected) as info:
        load_calibration(p)
    assert "\n" not in str(info.value)


def test_wrong_field_type_names_the_field(tmp_path: Path) -> None:
    doc = sample().model_dump(mode="json")
    doc["ceiling_rps_per_worker"] = "fast"
    doc["settings"]["output_tokens"] = -1
    p = tmp_path / "cal.json"
    p.write_bytes(orjson.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_calibration(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: ceiling_rps_per_worker:")
    assert "(+1 more)" in msg and "\n" not in msg


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    doc = sample().model_dump(mode="json")
    doc["ceiling"] = 1
    p = tmp_path / "cal.json"
    p.write_bytes(orjson.dumps(doc))
    with pytest.raises(ConfigError, match=r"cal\.json: ceiling: Extra inputs"):
        load_calibration(p)


def test_exceeds_ceiling_scales_with_workers() -> None:
    cal = sample()  # 150 req/s and 4800 chunks/s per worker
    assert not exceeds_ceiling(140, 4000, 1, cal)
    assert exceeds_ceiling(160, 4000, 1, cal)
    assert exceeds_ceiling(100, 5000, 1, cal)  # chunk-bound
    assert not exceeds_ceiling(290, 9500, 2, cal)
    assert exceeds_ceiling(310, 9500, 2, cal)


def test_exceeds_ceiling_without_calibration_is_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert not exceeds_ceiling(1e9, 1e9, 1)
