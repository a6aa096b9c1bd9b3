"""The isolation checks' shared Setup (fixture ``isolation``, once per module) and their report.

Setup: on the local cluster the ``network-policy`` add-on is started first; then the probe
pods (``probes``), a baseline table with no policy (everything must be reachable), and the
canary. ``Isolation.run_policy`` applies one policy to namespace ``a``, probes the full table
and removes the policy again; its tables go to the session report (section
``isolation_section``: ``isolation``, or ``isolation-meta`` for the meta-tests). Re-exported
by the conftests of suites/conformance/isolation and tests/e2e/isolation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from servegate.checks.isolation import scenario as sc
from servegate.checks.isolation.matrix import TruthTable, compare, verdict
from servegate.checks.isolation.probes import (
    Canary,
    IsolationEnv,
    ProbeRun,
    canary,
    isolation_env,
)
from servegate.errors import MissingCapability, UserError
from servegate.harness.addons import Addons
from servegate.harness.cluster import ClusterHandle
from servegate.k8s.errors import api_message
from servegate.k8s.render import render_unit, resolve_unit
from servegate.report.run_index import RunResults

REFERENCE_UNIT = ("vllm-deployment", "sim")


@dataclass
class PolicyRun:
    name: str
    expected: TruthTable
    run: ProbeRun
    notes: list[str]


@dataclass
class Isolation:
    env: IsolationEnv
    reference: dict[str, Any]  # the reference unit's NetworkPolicy
    baseline: ProbeRun
    canary: Canary
    results: RunResults
    out_dir: Path
    section: str  # name of the report section (also the results subdirectory)
    runs: dict[str, PolicyRun] = field(default_factory=dict)

    def require_enforcement(self) -> None:
        """Unless the canary saw a policy take effect: MissingCapability with the canary's
        message (the test is skipped, naming what is missing)."""
        if not self.canary.enforced:
            raise MissingCapability(self.canary.message)

    def run_policy(self, name: str, policy: dict[str, Any]) -> PolicyRun:
        """Apply ``policy`` (DNS-adapted for this cluster) in ``a``, probe, remove it."""
        if name in self.runs:
            return self.runs[name]
        adapted, notes = sc.adapt_dns(policy, self.env.dns_addresses())
        want = sc.expected(self.env.pods, policy_applied=True)
        self.env.apply_policy("a", adapted)
        try:
            run = self.env.observe(want)
        finally:
            self.env.remove_policies()
            # The next policy's first probes must not see this one's rules still in place.
            self.env.wait_open("a/other", f"a/{sc.MODEL}:{sc.SERVE_PORT}")
        self.runs[name] = PolicyRun(name, want, run, notes)
        save_details(self.out_dir / f"probes-{name}.json", run)
        self.report()
        return self.runs[name]

    def report(self) -> None:
        md, data = report_markdown(self)
        title = f"Network isolation: NetworkPolicy probe matrix ({self.section})"
        self.results.section(self.section, title, md, data)


def assess(run: PolicyRun, cols: list[str], what: str) -> list[str]:
    """Failures of one check over some columns of a policy run (empty: pass)."""
    return verdict(run.expected.select(cols), run.run.observed.select(cols), what)


def report_markdown(iso: Isolation) -> tuple[str, dict[str, Any]]:
    base_want = sc.expected(iso.env.pods, policy_applied=False)
    baseline = iso.baseline.observed
    lines = [
        f"Enforcement canary: {'enforced' if iso.canary.enforced else 'NOT enforced'} "
        f"({iso.canary.message}).",
        "",
        "Marks: `.` reachable, `X` blocked, `?` probe failed, `-` not probed (a pod to itself).",
        "",
        "### No policy (baseline)",
        "",
        "Observed:",
        "",
        iso.baseline.observed.markdown(),
        "",
        f"Differences from 'everything reachable': {len(compare(base_want, baseline))}.",
    ]
    data: dict[str, Any] = {"canary": iso.canary.__dict__, "policies": {}}
    for run in iso.runs.values():
        mismatches = compare(run.expected, run.run.observed)
        lines += ["", f"### Policy `{run.name}`", ""]
        lines += [f"- {n}" for n in run.notes]
        lines += ["", "Expected:", "", run.expected.markdown(), "", "Observed:", ""]
        lines += [run.run.observed.markdown(), ""]
        lines.append(
            f"{len(mismatches)} of {len(run.expected.judged())} probes differ"
            f" (after {run.run.rounds} probe round(s))"
            + ("." if not mismatches else ": " + "; ".join(m.sentence() for m in mismatches))
        )
        data["policies"][run.name] = {
            "notes": run.notes,
            "rows": run.expected.rows,
            "cols": run.expected.cols,
            "expected": {f"{r} -> {c}": v for (r, c), v in run.expected.cells.items()},
            "observed": {f"{r} -> {c}": v for (r, c), v in run.run.observed.cells.items()},
            "mismatches": [m.sentence() for m in mismatches],
        }
    return "\n".join(lines), data


@pytest.fixture(scope="module")
def isolation_section() -> str:
    """Name of the ``isolation`` fixture's report section and results subdirectory."""
    return "isolation"


@pytest.fixture(scope="module")
def isolation(
    sg_cluster: ClusterHandle, sg_addons: Addons, sg_results: RunResults, isolation_section: str
) -> Iterator[Isolation]:
    """Probe pods, baseline table and enforcement canary, shared by a module's checks."""
    from kubernetes.client.exceptions import ApiException

    objects = render_unit(resolve_unit(*REFERENCE_UNIT))
    pods = sc.pods(sc.model_server_labels(objects))
    out_dir = sg_results.root / isolation_section
    out_dir.mkdir(parents=True, exist_ok=True)

    # The enforcer is stopped again afterwards: other suites deploy the same policies and
    # would lose DNS to the host-run CoreDNS (see docs/suites-isolation.md).
    with sg_addons.scoped("network-policy"):
        try:
            with isolation_env(sg_cluster, pods, out_dir) as env:
                baseline = env.observe(sc.expected(pods, policy_applied=False))
                save_details(out_dir / "probes-baseline.json", baseline)
                can = canary(env)
                ref = sc.reference_policy(objects)
                iso = Isolation(env, ref, baseline, can, sg_results, out_dir, isolation_section)
                iso.report()
                yield iso
        except UserError as exc:  # SetupError among them
            pytest.fail(f"isolation setup: {exc}", pytrace=False)
        except ApiException as exc:
            pytest.fail(f"isolation setup: API server refused: {api_message(exc)}", False)


def save_details(path: Path, run: ProbeRun) -> None:
    """What each probe printed (the evidence behind every cell)."""
    rows = {
        f"{r} -> {c}": {"cell": run.observed.get(r, c), "output": text}
        for (r, c), text in run.detail.items()
    }
    path.write_text(json.dumps({"rounds": run.rounds, "probes": rows}, indent=1) + "\n")


__all__ = ["isolation", "isolation_section"]
