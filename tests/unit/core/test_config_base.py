"""The strict YAML loader: typos and wrong types are located errors, never ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from servegate.config.base import StrictModel, load_yaml_file, load_yaml_text
from servegate.errors import ConfigError


class Inner(StrictModel):
    rate: float = Field(gt=0)


class Outer(StrictModel):
    name: str
    stages: list[Inner]


def test_valid_document_loads() -> None:
    m = load_yaml_text("name: a\nstages:\n  - rate: 2\n", Outer)
    assert m.stages[0].rate == 2.0


def test_misspelled_key_names_line_and_field() -> None:
    with pytest.raises(ConfigError) as exc:
        load_yaml_text("name: a\nstages:\n  - rate: 2\n  - rat: 3\n", Outer, source="p.yaml")
    msg = str(exc.value)
    assert "p.yaml:4: stages.1.rat: unknown field (check the spelling)" in msg.splitlines()


def test_wrong_type_names_line_and_field() -> None:
    with pytest.raises(ConfigError) as exc:
        load_yaml_text("name: a\nstages:\n  - rate: fast\n", Outer, source="p.yaml")
    assert str(exc.value).startswith("p.yaml:3: stages.0.rate:")


def test_constraint_violation_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"p.yaml:3: stages.0.rate: .*greater than 0"):
        load_yaml_text("name: a\nstages:\n  - rate: -1\n", Outer, source="p.yaml")


def test_unparseable_yaml_is_one_line() -> None:
    with pytest.raises(ConfigError) as exc:
        load_yaml_text("name: [a\n", Outer, source="bad.yaml")
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith("bad.yaml:")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        load_yaml_file(empty, Outer)
    with pytest.raises(ConfigError, match="no such file"):
        load_yaml_file(tmp_path / "nope.yaml", Outer)
