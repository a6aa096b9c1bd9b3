"""Foreign-cluster mode: the suites run against the local cluster as against a cluster made
elsewhere, through the ``existing`` provider with every local shortcut off (no host route to
ClusterIPs: Services through a port-forward to a relay pod; no local-only node label: the
nodes that run containers read from the API; no add-on or CRD installs; the shared-cluster
confinement on).

The run uses a cluster-admin identity of its own (``servegate-suite``), so the API server's
audit log, an oracle servegate does not write, shows every write the suites made: each must
fall in a namespace of the run or on a cluster-scoped object named for it.

The local cluster stands in for a cluster servegate did not make; kubeadm-made clusters are
the kind issue's part."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from servegate.cluster.controlplane import SUITE, Layout
from servegate.harness.cluster import ClusterHandle
from servegate.k8s.audit import outside_run, read_writes

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
# The smoke check, the GPU conformance checks (pods on simulated and real nodes, a quota, a
# PriorityClass, probes of the devices inside containers) and the PDB check (evictions):
# writes of several kinds, in a few minutes.
SLICE = (
    "suites/smoke",
    "suites/conformance/gpu",
    "suites/resilience/test_resilience_pdb.py",
)


def test_foreign_mode_slice_passes_and_writes_only_its_own(
    sg_cluster: ClusterHandle, tmp_path: Path
) -> None:
    if sg_cluster.kind != "local":
        pytest.skip("the local cluster stands in for a foreign one here")
    layout = Layout(Path(sg_cluster.kubeconfig).parent)
    kubeconfig = layout.component_kubeconfig("suite")
    assert kubeconfig.exists() and layout.audit_log.exists(), "cluster made before audit logging"
    results = tmp_path / "results"
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    argv = [
        sys.executable, "-m", "pytest", *SLICE, "-q", "-p", "no:cacheprovider",
        "--sg-cluster", "existing", "--kubeconfig", str(kubeconfig),
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
    # the preemption check is opt-in on a cluster servegate did not make: the only skip
    skipped = [c["test"] for c in checks["data"]["checks"] if c["outcome"] == "skipped"]
    assert all("test_gpu_preemption" in t for t in skipped), skipped
    assert counts.get("passed", 0) >= 8 and set(counts) <= {"passed", "skipped"}, counts
    notes = [p.read_text() for p in (results / "foreign").rglob("confinement.txt")]
    assert notes and all("preemptionPolicy Never" in n for n in notes), notes
    # The API server's record of what the run wrote: everything within the run's scope.
    found = read_writes(layout.audit_log, SUITE, since=started)
    assert any(w.resource == "namespaces" and w.verb == "create" for w in found), found[:5]
    assert any(w.resource == "priorityclasses" for w in found)
    outside = outside_run(found, "foreign")
    assert not outside, "\n".join(str(w) for w in outside)
