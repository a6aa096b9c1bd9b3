"""The CPU wake-up latency hold: written, kept while the block runs, released after."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli.calibrate import calibrate
from servegate.errors import UserError
from servegate.load.calibration_file import CalibrationSettings
from servegate.load.cpu_wakeup import current_limit_us, describe_idle, hold_wakeup_latency


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_limit_is_written_held_and_released(tmp_path: Path) -> None:
    dev = tmp_path / "cpu_dma_latency"
    dev.write_bytes(struct.pack("<i", 2_000_000_000))
    before = open_fds()
    with hold_wakeup_latency(0, device=dev) as held:
        assert held == 0
        assert len(open_fds() - before) == 1  # the request lives as long as the open file
        assert current_limit_us(dev) == 0
    assert open_fds() == before


def test_none_leaves_the_device_alone(tmp_path: Path) -> None:
    dev = tmp_path / "absent"
    with hold_wakeup_latency(None, device=dev) as held:
        assert held is None
    assert not dev.exists()


def test_unopenable_device_is_a_one_line_user_error(tmp_path: Path) -> None:
    dev = tmp_path / "no" / "cpu_dma_latency"
    with pytest.raises(UserError) as exc, hold_wakeup_latency(0, device=dev):
        pass
    msg = str(exc.value)
    assert str(dev) in msg and "\n" not in msg and "root" in msg


def test_negative_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=">= 0"), hold_wakeup_latency(-1, device=tmp_path / "d"):
        pass


def test_unreadable_limit_is_none(tmp_path: Path) -> None:
    assert current_limit_us(tmp_path / "missing") is None
    short = tmp_path / "short"
    short.write_bytes(b"\x00")
    assert current_limit_us(short) is None


def test_describe_idle_lists_states_in_order(tmp_path: Path) -> None:
    root, cpu0 = tmp_path / "cpuidle", tmp_path / "cpu0"
    root.mkdir()
    (root / "current_driver").write_text("haltpoll\n")
    (root / "current_governor_ro").write_text("haltpoll\n")
    for i in range(11):  # state10 must sort after state2, not after state1
        d = cpu0 / f"state{i}"
        d.mkdir(parents=True)
        (d / "name").write_text("POLL\n" if i == 0 else f"C{i}\n")
        (d / "latency").write_text(f"{i * 10}\n")
        (d / "disable").write_text("1\n" if i == 2 else "0\n")
    line = describe_idle(root, cpu0)
    assert line.startswith("driver haltpoll, governor haltpoll; states: POLL 0us, C1 10us,")
    assert "C2 20us disabled, C3 30us," in line
    assert line.endswith("C9 90us, C10 100us")


def test_describe_idle_without_a_driver(tmp_path: Path) -> None:
    assert describe_idle(tmp_path / "none", tmp_path / "none") == "no cpuidle driver"


def test_calibrate_rejects_a_negative_limit() -> None:
    res = CliRunner().invoke(calibrate, ["--cpu-dma-latency", "-5"])
    assert res.exit_code == 2 and "--cpu-dma-latency" in res.output


def test_old_calibration_settings_without_the_limit_still_load() -> None:
    base = {
        "prompt_tokens": 32,
        "output_tokens": 32,
        "step_duration_s": 4,
        "min_achieved_ratio": 0.95,
        "lag_p50_limit_ms": 1,
        "lag_p99_limit_ms": 20,
        "idle_rps": 5,
        "idle_lag_p50_ms": 0.2,
        "idle_lag_p99_ms": 1.5,
        "pinned": True,
    }
    assert CalibrationSettings.model_validate(base).cpu_dma_latency_us is None
    held = CalibrationSettings.model_validate({**base, "cpu_dma_latency_us": 0})
    assert held.cpu_dma_latency_us == 0
