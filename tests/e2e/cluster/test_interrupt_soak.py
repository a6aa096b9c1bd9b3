"""Three interrupts of the suites on the local cluster, with fixed moments, through
bench/interrupt_soak.py: SIGKILL of pytest while its load runs, SIGINT once the smoke
test's namespace exists, SIGTERM in the GPU conformance slice. After each, the next ordinary
run must leave nothing of the interrupted one (namespaces, cluster-scoped objects, processes,
mounts, network namespaces, interfaces, iptables rules, cgroups, files), and the interrupted
run's results must keep an index saying how it ended (docs/reliability.md).

The moments are states (the run's namespace exists; a load worker runs), not times, so what
is interrupted does not depend on the machine's speed. Needs root and the local cluster's
binaries; a cluster that runs already is used and left running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
PLAN = "smoke:SIGKILL:load,smoke:SIGINT:namespace,conformance:SIGTERM:namespace"


def test_interrupted_runs_leave_nothing_after_the_next_run(
    local_binaries: None, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root")
    argv = [sys.executable, str(REPO / "bench" / "interrupt_soak.py"), "--plan", PLAN]
    argv += ["--json", "--out", str(tmp_path / "soak")]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=3600)
    assert proc.stdout.strip(), proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    trials = {t["signal"]: t for t in doc["trials"]}
    for t in doc["trials"]:
        # every signal landed while the run was going on: the trial tested something
        assert t["delivered_s"] is not None, t
        assert not t["hung"], t
        assert t["after_recovery"] == {}, t
        assert not t["after_down"], t
        assert t["results"]["dir"] and t["results"]["index"], t
    killed = trials["SIGKILL"]
    # the count sees what a killed run leaves (its namespace, its load processes) ...
    assert killed["after_interrupt"].get("namespaces"), killed
    assert killed["after_interrupt"].get("run processes"), killed
    # ... and the next ordinary run removed it, without being asked
    assert any(s.startswith("Namespace/") for s in killed["recovery_swept"]), killed
    assert killed["results"]["status"] == "running"  # killed: the index says it did not end
    assert trials["SIGINT"]["results"]["status"] == "interrupted"
    assert trials["SIGTERM"]["results"]["status"] == "interrupted"
    assert trials["SIGTERM"]["exit_code"] == pytest.ExitCode.INTERRUPTED  # torn down
    assert proc.returncode == 0, proc.stderr[-2000:]
