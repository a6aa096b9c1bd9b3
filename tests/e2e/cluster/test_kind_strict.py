"""A gate that cannot pass by skipping, on a cluster servegate did not make: kind's network
plugin as servegate builds its node image does not enforce NetworkPolicy, so the isolation
check cannot run there. With ``--sg-strict`` that is a failure naming the missing capability;
without it, a skip listed first in the session index, and a run whose every check skipped
still exits non-zero.

Needs root and Docker's daemon (Debian's docker.io is started and stopped by servegate, as
for `make kind-smoke`); each run makes and deletes its own kind cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
CHECK = "suites/conformance/isolation/test_isolation.py::test_cluster_enforces_network_policy"
MISSING = "does not enforce NetworkPolicy"


def _run(tmp_path: Path, *extra: str) -> tuple[int, str, dict[str, object]]:
    results = tmp_path / "results"
    argv = [
        sys.executable, "-m", "pytest", CHECK, "-q", "-rs", "-p", "no:cacheprovider",
        "--sg-cluster", "kind", f"--results={results}", "--run-id=strict", *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "SERVEGATE_STRICT"}
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    index = json.loads((results / "strict" / "index.json").read_text())
    return proc.returncode, proc.stdout + proc.stderr, index


@pytest.fixture(scope="module", autouse=True)
def _docker() -> None:
    """As the kind coexistence test: root, and Docker's daemon (or Debian's to start)."""
    import shutil

    from servegate.cluster.kind import dockerhost

    if os.geteuid() != 0:
        pytest.skip("needs root")
    if shutil.which("dockerd") is None and dockerhost.DockerHost().existing() is None:
        pytest.skip("no Docker: apt-get install docker.io (or run a Docker daemon)")


def test_strict_run_fails_where_networkpolicy_is_not_enforced(tmp_path: Path) -> None:
    code, out, _ = _run(tmp_path, "--sg-strict")
    tail = "\n".join(out.splitlines()[-25:])
    assert code == 1, tail
    assert "1 failed" in out and MISSING in out, tail


def test_without_strict_the_skip_is_listed_and_the_run_is_not_a_success(tmp_path: Path) -> None:
    code, out, index = _run(tmp_path)
    tail = "\n".join(out.splitlines()[-25:])
    assert code != 0 and "1 skipped" in out, tail
    text = json.dumps(index)
    assert MISSING in text, "the skip and its reason are in the session index"
