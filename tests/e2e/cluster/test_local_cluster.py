"""The local cluster goes up with a kwok fleet, reports its status, and leaves nothing behind.

Builds the binaries first when the cache lacks them (``local_binaries`` in
tests/e2e/conftest.py; a cold build takes minutes), so a new machine runs it too. Uses its
own state directory and port slot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli import cli
from servegate.cluster import network
from servegate.cluster.hostcheck import HostSnapshot, snapshot
from servegate.config.fleet import load_fleet

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[3]
SLOT = 61


def _others_running(state: Path) -> bool:
    """Another servegate cluster on this host (a developer's) changes links and rules too."""
    return bool(snapshot(Path("servegate/cluster")).processes - snapshot(state).processes)


def _assert_clean(state: Path, before: HostSnapshot) -> None:
    left = snapshot(state).leftovers(before)
    assert [m for m in left.get("mounts", []) if str(state) in m] == []
    assert left.get("processes", []) == []
    if not _others_running(state):  # host-wide checks are only meaningful when we are alone
        assert left == {}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_binaries: None) -> Iterator[Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("SERVEGATE_OFFLINE", "1")
    yield tmp_path
    CliRunner().invoke(cli, ["cluster", "down", "--name", "e2e"])  # even if the test failed


def test_up_status_down_leaves_nothing_behind(state: Path) -> None:
    before = snapshot(state)
    fleet = ROOT / "fleets" / "default.yaml"
    nodes = load_fleet(fleet).node_count
    args = [
        "cluster",
        "up",
        "--name",
        "e2e",
        "--fleet",
        str(fleet),
        "--no-node",
        "--port-slot",
        str(SLOT),
        "--no-build",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert f"({nodes} nodes Ready)" in res.output

    again = CliRunner().invoke(cli, args)  # idempotent
    assert again.exit_code == 0 and f"already up: {nodes} nodes Ready" in again.output

    status = CliRunner().invoke(cli, ["cluster", "status", "--name", "e2e"])
    assert status.exit_code == 0, status.output
    assert f"nodes: {nodes}/{nodes} Ready" in status.output
    running = snapshot(state)
    names = " ".join(running.processes)
    for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        assert comp in names

    kc = CliRunner().invoke(cli, ["cluster", "kubeconfig", "--name", "e2e"])
    assert "current-context: servegate-e2e" in kc.output

    down = CliRunner().invoke(cli, ["cluster", "down", "--name", "e2e"])
    assert down.exit_code == 0 and "kube-apiserver" in down.output
    _assert_clean(state, before)
    assert all(network.port_free(p) for p in network.Ports.for_slot(SLOT).named().values())
    assert not (state / "servegate" / "cluster" / "e2e").exists()
    assert os.listdir(state / "servegate" / "cluster") == []


def test_a_failure_half_way_stops_what_was_started(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(state)
    monkeypatch.setenv("SERVEGATE_BIN_KUBE_APISERVER", "/bin/false")  # exits at once
    res = CliRunner().invoke(
        cli, ["cluster", "up", "--name", "e2e", "--no-fleet", "--no-node", "--port-slot", "62"]
    )
    assert res.exit_code == 1
    assert "kube-apiserver exited with code 1" in res.output
    assert "Traceback" not in res.output
    # etcd had started before the API server failed: it is gone again.
    _assert_clean(state, before)
    assert all(network.port_free(p) for p in network.Ports.for_slot(62).named().values())
