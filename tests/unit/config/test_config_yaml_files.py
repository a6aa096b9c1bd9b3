"""Every YAML file under loadprofiles/ (tracked or about to be) is classified and valid."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from servegate.cli.profiles import (
    KINDS,
    KindUnavailable,
    profiles,
    render_schema,
    schemas,
    validate_file,
)
from servegate.config.base import load_yaml_file
from servegate.config.prices import PriceTable

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ("loadprofiles",)


def _yaml_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *SCANNED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(ROOT / f for f in out if f.endswith((".yaml", ".yml")))


FILES = _yaml_files()


def test_the_shipped_profiles_are_found() -> None:
    names = {f.stem for f in FILES}
    shipped = {
        "smoke",
        "chat-steady",
        "chat-poisson",
        "ramp",
        "spike",
        "soak",
        "sweep",
        "slo-search",
        "completions",
        "embeddings",
        "rag",
    }
    assert shipped <= names


@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(ROOT)) for f in FILES])
def test_yaml_file_is_classified_and_valid(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and data.get("kind") == "PriceTable":
        # Price tables are read by the cost study, not by `servegate profiles`.
        load_yaml_file(path, PriceTable)  # raises ConfigError with file:line: field
        return
    try:
        kind, problems = validate_file(path)
    except KindUnavailable as exc:
        pytest.skip(f"{path.name}: {exc}")
    assert kind in KINDS, problems
    assert problems == []


def test_schemas_are_fresh() -> None:
    """schemas/ is generated: run `servegate profiles schema --out schemas/` after a change."""
    out = ROOT / "schemas"
    for fname, doc in schemas().items():
        path = out / fname
        assert path.exists(), f"{path} missing; run servegate profiles schema"
        assert path.read_text() == render_schema(doc), f"{path} is stale"


def test_schema_check_flags_stale_files(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(profiles, ["schema", "--out", str(tmp_path)]).exit_code == 0
    assert runner.invoke(profiles, ["schema", "--out", str(tmp_path), "--check"]).exit_code == 0
    victim = tmp_path / "profile.schema.json"
    victim.write_text(victim.read_text().replace('"Profile"', '"Profyle"'))
    res = runner.invoke(profiles, ["schema", "--out", str(tmp_path), "--check"])
    assert res.exit_code == 1 and "profile.schema.json" in res.output
