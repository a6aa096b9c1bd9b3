"""The README must not drift from the code: every lint rule, CLI command and marker listed."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_servegate.plugin import MARKERS
from servegate.cli import _COMMANDS
from servegate.lint import REGISTRY

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()


def test_every_lint_rule_is_in_the_readme() -> None:
    listed = set(re.findall(r"^\| (SG\d{3}) \|", README, flags=re.M))
    assert listed == set(REGISTRY.ids())


def test_every_cli_command_is_in_the_readme() -> None:
    for name in _COMMANDS:
        assert f"servegate {name}" in README, name


def test_every_suite_marker_is_in_the_readme() -> None:
    for name in MARKERS:
        assert f"`{name}`" in README, name


def test_readme_commands_exist_in_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
