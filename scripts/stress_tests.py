#!/usr/bin/env python3
"""Run the unit and integration tiers several times while every CPU is kept busy.

A test that passes on a quiet machine and fails on a loaded one depends on timing; this
finds such tests before a user's first ``make test`` does. ``stress-ng --cpu N`` (Debian
package stress-ng, installed with scripts/apt_install.sh when missing and run as root) keeps
all N CPUs busy for the whole session; each run executes the two tiers as ``make test`` does
and reads their counts from JUnit XML. One table row per run (passed, failed, skipped,
duration), then the ids of every test that failed, with the run it failed in.

Usage: python scripts/stress_tests.py [--runs 5] [--tiers unit,integration] [--cpu-workers N]
       [--no-stress] [-x] [--pytest-arg ARG]...

Exit status: 0 when every run passed, 1 when a test failed in any run, 2 on a usage error or
when stress-ng cannot be had.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
# The two tiers exactly as the Makefile's test target runs them.
TIERS: dict[str, list[str]] = {
    "unit": ["tests/unit", "suites/static"],
    "integration": ["tests/integration", "-m", "integration"],
}


@dataclass
class Run:
    number: int
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # a tier that wrote no report

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.problems


def _counts(junit: Path, run: Run) -> None:
    """Add the counts and failed tests (id: first line of the message) of one pytest JUnit
    report to ``run``."""
    root = ET.parse(junit).getroot()
    for suite in root.iter("testsuite"):
        tests = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        run.passed += tests - failed - skipped
        run.failed += failed
        run.skipped += skipped
    for case in root.iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            message = (bad.get("message") or "").strip().splitlines()[:1]
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            run.failures.append(f"{name}: {message[0][:160] if message else ''}")


def _pytest(argv: list[str], timeout_s: float) -> tuple[int | None, str]:
    """Run pytest in its own process group (it starts simulators and Locust); the whole
    group is killed if it outlives ``timeout_s``. (exit code or None on timeout, output)."""
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, out.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out.decode("utf-8", "replace")
    except BaseException:  # Ctrl-C, or SIGTERM (main turns it into SystemExit)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def run_tiers(
    number: int, tiers: list[str], extra: list[str], workdir: Path, timeout_s: float
) -> Run:
    run = Run(number)
    t0 = time.monotonic()
    for tier in tiers:
        junit = workdir / f"run{number}-{tier}.xml"
        code, out = _pytest([*PYTEST, *TIERS[tier], f"--junitxml={junit}", *extra], timeout_s)
        if code is None:
            run.problems.append(f"{tier}: still running after {timeout_s:g} s, killed")
        elif junit.is_file():
            _counts(junit, run)
            if code not in (0, 1):
                run.problems.append(f"{tier}: pytest exit {code}")
        else:  # pytest did not get as far as a report (a usage or collection error)
            tail = out.strip().splitlines()[-1:] or ["(no output)"]
            run.problems.append(f"{tier}: pytest exit {code}, no report: {tail[0][:160]}")
    run.seconds = time.monotonic() - t0
    return run


def _ensure_stress_ng() -> str:
    found = shutil.which("stress-ng")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        _fail("stress-ng is missing; install it: sh scripts/apt_install.sh stress-ng")
    print("stress_tests: installing stress-ng (Debian)", flush=True)
    install = subprocess.run(["sh", str(ROOT / "scripts" / "apt_install.sh"), "stress-ng"])
    found = shutil.which("stress-ng")
    if not found:
        _fail(
            f"stress-ng is still missing after scripts/apt_install.sh (exit {install.returncode})"
        )
    return found


def _fail(message: str) -> NoReturn:
    print(f"stress_tests: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextlib.contextmanager
def cpu_stress(workers: int) -> Iterator[None]:
    """``stress-ng --cpu workers`` in its own process group for the duration of the block;
    the whole group (stress-ng forks one worker per CPU) is ended afterwards."""
    binary = _ensure_stress_ng()
    proc = subprocess.Popen(
        [binary, "--cpu", str(workers), "--quiet"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def table(runs: list[Run]) -> str:
    lines = [
        f"{'run':>3}  {'passed':>6}  {'failed':>6}  {'skipped':>7}  {'duration':>9}",
        *(
            f"{r.number:>3}  {r.passed:>6}  {r.failed:>6}  {r.skipped:>7}  {r.seconds:>8.1f}s"
            for r in runs
        ),
    ]
    for r in runs:
        lines += [f"run {r.number}: FAILED {failure}" for failure in r.failures]
        lines += [f"run {r.number}: {problem}" for problem in r.problems]
    return "\n".join(lines)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    # SIGTERM ends the run as Ctrl-C does: the tier's pytest group and stress-ng are stopped
    # (once, killed with SIGTERM, the script left both running)
    signal.signal(signal.SIGTERM, _terminated)
    ap = argparse.ArgumentParser(
        description="Run the unit and integration tiers N times while stress-ng keeps every "
        "CPU busy; print passed/failed/duration per run; exit 1 if any run failed."
    )
    ap.add_argument("--runs", type=int, default=5, help="how many times (default 5)")
    ap.add_argument(
        "--tiers",
        default="unit,integration",
        help="comma-separated, from: unit, integration (default both)",
    )
    ap.add_argument(
        "--cpu-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="stress-ng CPU workers (default: one per CPU)",
    )
    ap.add_argument("--no-stress", action="store_true", help="a quiet baseline: no stress-ng")
    ap.add_argument(
        "--tier-timeout",
        type=float,
        default=1800.0,
        help="seconds one tier may take before it counts as hung and is killed (default 1800)",
    )
    ap.add_argument(
        "-x", "--exitfirst", action="store_true", help="pytest -x, and stop after a failed run"
    )
    ap.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="passed to every pytest call (repeatable), e.g. --pytest-arg=-k --pytest-arg=sim",
    )
    args = ap.parse_args(argv)
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    unknown = [t for t in tiers if t not in TIERS]
    if args.runs < 1 or not tiers or unknown or args.cpu_workers < 1 or args.tier_timeout <= 0:
        ap.error(
            "need --runs >= 1, --cpu-workers >= 1, --tier-timeout > 0 and tiers from "
            + ", ".join(TIERS)
        )
    extra = [*args.pytest_arg, *(["-x"] if args.exitfirst else [])]
    load = "no stress" if args.no_stress else f"stress-ng --cpu {args.cpu_workers}"
    print(f"stress_tests: {args.runs} run(s) of {'+'.join(tiers)} under {load}", flush=True)
    runs: list[Run] = []
    stress = contextlib.nullcontext() if args.no_stress else cpu_stress(args.cpu_workers)
    with tempfile.TemporaryDirectory(prefix="sg-stress-") as tmp, stress:
        for number in range(1, args.runs + 1):
            run = run_tiers(number, tiers, extra, Path(tmp), args.tier_timeout)
            runs.append(run)
            state = "ok" if run.ok else f"{run.failed} failed"
            print(f"stress_tests: run {number}: {state} in {run.seconds:.1f} s", flush=True)
            if args.exitfirst and not run.ok:
                break
    print(table(runs))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
