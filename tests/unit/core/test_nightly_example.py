"""The nightly CI example must call what exists: its pytest options and compare keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from servegate.report.compare import known_keys

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly-gpu.yml"


def _run_lines() -> str:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = doc["jobs"]["servegate"]["steps"]
    return "\n".join(str(s.get("run", "")) for s in steps)


def test_compare_keys_in_the_workflow_are_known() -> None:
    keys = re.findall(r"--max-regress ([a-z0-9_.]+)=", _run_lines())
    assert keys, "the example gates on no key"
    assert set(keys) <= set(known_keys())


def test_pytest_options_in_the_workflow_are_registered(pytestconfig: pytest.Config) -> None:
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", _run_lines()))
    opts -= {"--max-regress"}  # servegate compare's
    assert {"--kubeconfig", "--context", "--junitxml"} <= opts
    for opt in sorted(opts):
        pytestconfig.getoption(opt)  # ValueError for an option nobody registered


def test_secrets_reach_steps_as_environment_never_as_script_text() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = doc["jobs"]["servegate"]["steps"]
    assert all("secrets." not in str(s.get("run", "")) for s in steps)
    uses_secret = [s for s in steps if "secrets." in str(s.get("env", ""))]
    assert uses_secret, "the kubeconfig secret is handed to a step through env"


def test_the_nightly_gate_is_strict() -> None:
    env = yaml.safe_load(WORKFLOW.read_text())["jobs"]["servegate"]["env"]
    assert env.get("SERVEGATE_STRICT") == "1"
