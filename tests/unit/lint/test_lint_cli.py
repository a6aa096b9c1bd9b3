"""``servegate lint`` exit codes, formats and flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli import cli

HERE = Path(__file__).parent
CLEAN = str(HERE / "corpus" / "clean-vllm-deployment.yaml")
ERROR = str(HERE / "seed" / "18-servicemonitor.yaml")  # SG501, an error
WARNING = str(HERE / "corpus" / "SG201-latest-tag.yaml")  # SG201, a warning
INFO = str(HERE / "corpus" / "SG601-statefulset-shared-rwx-cache.yaml")  # SG601, info


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["lint", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("path", "fail_on", "code"),
    [
        (CLEAN, "error", 0),
        (ERROR, "error", 1),
        (WARNING, "error", 0),
        (WARNING, "warning", 1),
        (INFO, "warning", 0),
        (INFO, "info", 1),
    ],
)
def test_exit_code_follows_fail_on(path: str, fail_on: str, code: int) -> None:
    assert run(path, "--fail-on", fail_on)[0] == code


def test_nothing_lintable_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    code, _, err = run(str(bad))
    assert code == 2
    assert err.strip().count("\n") == 0 and str(bad) in err and "Traceback" not in err


def test_partial_input_error_still_lints_the_rest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    code, out, err = run(str(bad), WARNING, "--format", "json")
    assert code == 1 and str(bad) in err
    data = json.loads(out)
    assert [f["rule"] for f in data["findings"]] == ["SG201"]
    assert len(data["errors"]) == 1


def test_usage_errors_exit_2() -> None:
    assert run()[0] == 2
    code, _, err = run(CLEAN, "--disable", "SG999")
    assert code == 2 and "SG999" in err


def test_disable_flag_removes_rules() -> None:
    code, out, _ = run(ERROR, "--disable", "sg501,SG402", "--format", "json")
    assert code == 0 and json.loads(out)["findings"] == []


def test_stdin_dash() -> None:
    text = Path(WARNING).read_text()
    code, out, _ = run("-", "--format", "json", "--fail-on", "warning", stdin=text)
    assert code == 1
    assert {f["file"] for f in json.loads(out)["findings"]} == {"<stdin>"}


def test_sarif_format_and_output_file(tmp_path: Path) -> None:
    target = tmp_path / "lint.sarif"
    code, out, _ = run(ERROR, "--format", "sarif", "-o", str(target))
    assert code == 1 and out == ""
    log = json.loads(target.read_text())
    assert log["version"] == "2.1.0" and log["runs"][0]["results"][0]["ruleId"] == "SG501"


@pytest.mark.parametrize("form", ["table", "markdown", "json"])
def test_list_rules(form: str) -> None:
    from servegate.lint import REGISTRY

    code, out, _ = run("--list-rules", "--format", form)
    assert code == 0
    assert all(rule_id in out for rule_id in REGISTRY.ids())
    if form == "json":
        assert [r["id"] for r in json.loads(out)] == REGISTRY.ids()
