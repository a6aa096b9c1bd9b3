"""Foreign-cluster mode: the suites run against the local cluster as against a cluster made
elsewhere, through the ``existing`` provider with every local shortcut off (no host route to
ClusterIPs: Services through port-forward; no local-only node label: the nodes that run
containers read from the API; no add-on or CRD installs; the shared-cluster confinement on).

The local cluster stands in for a cluster servegate did not make; kubeadm-made clusters are
the kind issue's part."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from servegate.harness.cluster import ClusterHandle

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


def test_smoke_slice_passes_in_foreign_mode(sg_cluster: ClusterHandle, tmp_path: Path) -> None:
    if sg_cluster.kind != "local":
        pytest.skip("the local cluster stands in for a foreign one here")
    results = tmp_path / "results"
    argv = [
        sys.executable, "-m", "pytest", "suites", "-m", "smoke", "-q", "-p", "no:cacheprovider",
        "--sg-cluster", "existing", "--kubeconfig", sg_cluster.kubeconfig,
        "--context", sg_cluster.context, "--allow-context", sg_cluster.context,
        "--sg-overlay", "sim", "--sg-strict", f"--results={results}", "--run-id=foreign",
    ]  # fmt: skip
    proc = subprocess.run(
        argv, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=1800
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
    assert proc.returncode == 0, tail
    index = json.loads((results / "foreign" / "index.json").read_text())
    (checks,) = [s for s in index["sections"] if s["name"] == "checks"]
    counts = checks["data"]["counts"]
    assert counts.get("passed", 0) >= 1 and set(counts) == {"passed"}, counts
    notes = [p.read_text() for p in (results / "foreign").rglob("confinement.txt")]
    assert notes and all("preemptionPolicy Never" in n for n in notes), notes
