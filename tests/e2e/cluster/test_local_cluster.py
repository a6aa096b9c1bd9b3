"""The local cluster goes up with a kwok fleet, reports its status, and leaves nothing behind.

Skipped with the reason when the binaries are not in the cache (``servegate cluster build``
fills it; a cold build takes tens of minutes). Uses its own state directory and port slot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli import cli
from servegate.cluster import network
from servegate.cluster.binaries import BinaryResolver
from servegate.cluster.hostcheck import snapshot
from servegate.cluster.local import CP_BINARIES
from servegate.cluster.versions import load_versions

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[3]
SLOT = 8


def _missing() -> list[str]:
    resolver = BinaryResolver(load_versions(), allow_download=False, allow_build=False)
    return [n for n in CP_BINARIES if resolver.lookup(n) is None]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    missing = _missing()
    if missing:
        pytest.skip(f"binaries not built ({', '.join(missing)}): run 'servegate cluster build'")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("SERVEGATE_OFFLINE", "1")
    yield tmp_path
    CliRunner().invoke(cli, ["cluster", "down", "--name", "e2e"])  # even if the test failed


def test_up_status_down_leaves_nothing_behind(state: Path) -> None:
    before = snapshot(state)
    fleet = ROOT / "fleets" / "default.yaml"
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
    assert "(7 nodes Ready)" in res.output

    again = CliRunner().invoke(cli, args)  # idempotent
    assert again.exit_code == 0 and "already up: 7 nodes Ready" in again.output

    status = CliRunner().invoke(cli, ["cluster", "status", "--name", "e2e"])
    assert status.exit_code == 0, status.output
    assert "nodes: 7/7 Ready" in status.output
    running = snapshot(state)
    names = " ".join(running.processes)
    for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        assert comp in names

    kc = CliRunner().invoke(cli, ["cluster", "kubeconfig", "--name", "e2e"])
    assert "current-context: servegate-e2e" in kc.output

    down = CliRunner().invoke(cli, ["cluster", "down", "--name", "e2e"])
    assert down.exit_code == 0 and "kube-apiserver" in down.output
    after = snapshot(state)
    assert after.leftovers(before) == {}
    assert not any(str(state) in p for p in after.processes)
    assert all(network.port_free(p) for p in network.Ports.for_slot(SLOT).named().values())
    assert not (state / "servegate" / "cluster" / "e2e").exists()
    assert os.listdir(state / "servegate" / "cluster") == []
