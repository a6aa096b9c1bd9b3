"""`servegate cluster ...` without a cluster: one-line answers, meaningful exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli import cli


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SERVEGATE_OFFLINE", "1")


def test_status_of_a_cluster_never_created_exits_1() -> None:
    res = CliRunner().invoke(cli, ["cluster", "status"])
    assert res.exit_code == 1
    assert "cluster local: not created" in res.output


def test_kubeconfig_before_up_is_one_line() -> None:
    res = CliRunner().invoke(cli, ["cluster", "kubeconfig"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        "Error: cluster local has no kubeconfig: run 'servegate cluster up'"
    ]


def test_down_without_state_is_a_no_op() -> None:
    res = CliRunner().invoke(cli, ["cluster", "down"])
    assert res.exit_code == 0
    assert "nothing was running" in res.output


def test_invalid_name_is_rejected() -> None:
    res = CliRunner().invoke(cli, ["cluster", "status", "--name", "No_Good"])
    assert res.exit_code == 1
    assert "cluster name 'No_Good' is not valid" in res.output


def test_up_with_a_broken_fleet_file_names_it_and_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("name: x\npools:\n  - name: a\n    count: two\n")
    res = CliRunner().invoke(cli, ["cluster", "up", "--fleet", str(bad), "--no-node"])
    assert res.exit_code == 1
    assert f"{bad}:4: pools.0.count" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "state" / "servegate" / "cluster" / "local").exists()


def test_up_without_binaries_and_no_build_says_what_is_missing(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["cluster", "up", "--no-fleet", "--no-node", "--no-build", "--port-slot", "97"]
    )
    assert res.exit_code == 1
    assert "missing binaries:" in res.output and "servegate cluster build" in res.output


def test_down_refuses_to_touch_a_process_it_did_not_start(tmp_path: Path) -> None:
    # A recorded PID that now belongs to another process (here: this test runner).
    import os

    state = tmp_path / "state" / "servegate" / "cluster" / "local"
    state.mkdir(parents=True)
    (state / "cluster.json").write_text(json.dumps({"slot": 0, "node": False}))
    (state / "procs.json").write_text(
        json.dumps(
            [
                {
                    "name": "etcd",
                    "pid": os.getpid(),
                    "cmdline": ["/cache/etcd"],
                    "start_ticks": 1,
                    "log": str(state / "logs" / "etcd.log"),
                }
            ]
        )
    )
    res = CliRunner().invoke(cli, ["cluster", "down"])
    assert res.exit_code == 0  # we are still alive: the PID was not signalled
    assert "nothing was running" in res.output
    assert not state.exists()
