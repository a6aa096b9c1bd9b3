"""Argument checks of `servegate calibrate` that need no process."""

from __future__ import annotations

from click.testing import CliRunner

from servegate.cli.calibrate import calibrate


def test_start_rate_above_max_rate_is_a_usage_error() -> None:
    res = CliRunner().invoke(calibrate, ["--start-rate", "500", "--max-rate", "100"])
    assert res.exit_code == 2
    assert "--start-rate" in res.output and "must not exceed --max-rate" in res.output


def test_zero_workers_is_rejected() -> None:
    res = CliRunner().invoke(calibrate, ["--workers", "0"])
    assert res.exit_code == 2
    assert "--workers" in res.output
