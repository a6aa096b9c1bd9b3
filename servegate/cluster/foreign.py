"""The suites against the local cluster as against a cluster servegate did not make, and what
the API server's audit log says they wrote.

Foreign mode is the ``existing`` provider with the suite identity's kubeconfig (a
cluster-admin user of its own, ``servegate-suite``): no host route to ClusterIPs, no
local-only label, no add-on installs, the shared-cluster confinement on. The audit log is the
API server's record, an oracle independent of servegate's bookkeeping: every write by that
identity must fall within the run (:func:`servegate.k8s.audit.outside_run`).

Used by tests/e2e/cluster/test_foreign_mode.py (a slice, in CI) and bench/foreign_suites.py
(the whole suite, by hand: it takes most of an hour).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from servegate.cluster.controlplane import SUITE, Layout
from servegate.errors import UserError
from servegate.k8s.audit import Write, outside_run, read_writes
from servegate.paths import REPO


@dataclass(frozen=True)
class AuditRead:
    """The suite identity's writes since a time, and whether the log still held all of them
    (the API server rotates it: ``--audit-log-maxbackup=1``)."""

    writes: list[Write]
    complete: bool
    files: tuple[Path, ...]


def audit_files(layout: Layout) -> list[Path]:
    """The audit log and its rotated backups (``audit-<time>.log``), oldest first."""
    rotated = sorted(p for p in layout.root.glob("audit-*.log") if p != layout.audit_log)
    return [*rotated, layout.audit_log] if layout.audit_log.exists() else rotated


def _first_timestamp(path: Path) -> str | None:
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                stamp = json.loads(line).get("requestReceivedTimestamp")
            except (ValueError, AttributeError):
                continue
            if stamp:
                return str(stamp)
    return None


def read_suite_writes(layout: Layout, since: str) -> AuditRead:
    """Every write the suite identity made at or after ``since`` (RFC 3339), across the log and
    its backups. ``complete`` is False when the oldest record left is newer than ``since``:
    a rotation dropped the start of the run, and no verdict can be given."""
    files = audit_files(layout)
    if not files:
        raise UserError(
            f"no audit log at {layout.audit_log}: the cluster was made before audit logging"
        )
    found: list[Write] = []
    for path in files:
        found.extend(read_writes(path, SUITE, since=since))
    oldest = _first_timestamp(files[0])
    return AuditRead(found, oldest is not None and oldest <= since, tuple(files))


def utc_now() -> str:
    """Now, in the audit log's timestamp form (seconds; the log adds fractions)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def foreign_argv(
    paths: Sequence[str],
    layout: Layout,
    context: str,
    results: Path,
    run_id: str,
    overlay: str = "sim",
    strict: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """pytest's command line for ``paths`` in foreign mode, as the suite identity."""
    kubeconfig = layout.component_kubeconfig("suite")
    if not kubeconfig.exists():
        raise UserError(
            f"no suite identity at {kubeconfig}: recreate the cluster (cluster down, up)"
        )
    return [
        sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider",
        "--sg-cluster", "existing", "--kubeconfig", str(kubeconfig),
        "--context", context, "--allow-context", context,
        "--sg-overlay", overlay, *(["--sg-strict"] if strict else []),
        f"--results={results}", f"--run-id={run_id}", *extra,
    ]  # fmt: skip


@dataclass(frozen=True)
class ForeignRun:
    """One foreign-mode pytest session and the audit log's account of its writes."""

    returncode: int
    output: str  # the session's output (the last lines when it was streamed to a file)
    run_dir: Path
    audit: AuditRead
    outside: list[Write]
    seconds: float

    def index(self) -> dict[str, Any] | None:
        """The session index the run wrote, or None."""
        try:
            doc = json.loads((self.run_dir / "index.json").read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def checks(self) -> list[dict[str, Any]]:
        """The index's per-check rows (test, outcome, seconds, detail)."""
        for section in (self.index() or {}).get("sections", []):
            if section.get("name") == "checks":
                return list(section.get("data", {}).get("checks", []))
        return []


def run_foreign(
    layout: Layout,
    context: str,
    paths: Sequence[str],
    results: Path,
    run_id: str,
    *,
    overlay: str = "sim",
    strict: bool = True,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout_s: float = 7200.0,
    log: IO[str] | None = None,
) -> ForeignRun:
    """Run ``paths`` in foreign mode and read the audit log for the run's writes.

    ``log``: where the session's output goes as it comes (progress for a long run); without
    it the output is captured. The audit log is read after the session, whatever its exit."""
    argv = foreign_argv(paths, layout, context, results, run_id, overlay, strict, extra)
    since = utc_now()
    t0 = time.monotonic()
    run_env = {**os.environ, **(env or {})}
    if log is None:
        proc = subprocess.run(
            argv, cwd=REPO, env=run_env, capture_output=True, text=True, timeout=timeout_s
        )
        code, output = proc.returncode, proc.stdout + proc.stderr
    else:
        code, output = _streamed(argv, run_env, timeout_s, log)
    seconds = time.monotonic() - t0
    audit = read_suite_writes(layout, since)
    return ForeignRun(
        code, output, results / run_id, audit, outside_run(audit.writes, run_id), seconds
    )


def _streamed(
    argv: list[str], env: dict[str, str], timeout_s: float, log: IO[str]
) -> tuple[int, str]:
    tail: list[str] = []
    with subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        for line in proc.stdout:
            log.write(line)
            log.flush()
            tail = [*tail[-199:], line]
            if time.monotonic() > deadline:
                proc.terminate()  # pytest's SIGTERM handling tears the run down
        code = proc.wait()
    return code, "".join(tail)
