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
