"""Profile validation: every mistake is one line naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli.profiles import profiles
from servegate.config.base import load_yaml_file, load_yaml_text
from servegate.config.profile import Profile
from servegate.errors import ConfigError

BASE = """\
kind: Profile
name: t
api: chat
model: m
load: {type: closed}
shape:
  type: steady
  level: 4
  duration: 30s
warmup: 5s
prompt: {mean: 10}
output: {mean: 10}
"""


def _err(text: str, tmp_path: Path) -> str:
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_yaml_file(f, Profile)
    return str(exc.value)


def test_base_is_valid_and_durations_parse() -> None:
    p = load_yaml_text(BASE, Profile)
    assert p.max_duration == 30 and p.warmup == 5


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("model: m", "modle: m", 4, "modle", "unknown field"),
        ("  level: 4", "  level: -1", 8, "shape.steady.level", "greater than 0"),
        ("  duration: 30s", "  duration: 30 parsecs", 9, "shape.steady.duration", "duration"),
        ("load: {type: closed}", "load: {type: closd}", 5, "load", "closed"),
        ("api: chat", "api: images", 3, "api", "chat"),
        ("prompt: {mean: 10}", "prompt: {mean: 10, max: 5}", 11, "prompt", "max"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, words: str
) -> None:
    msg = _err(BASE.replace(old, new), tmp_path)
    hits = [
        ln for ln in msg.splitlines() if ln.startswith(f"{tmp_path / 'p.yaml'}:{line}: {field}")
    ]
    assert len(hits) == 1, msg
    assert words in hits[0]


def test_window_must_leave_room(tmp_path: Path) -> None:
    msg = _err(BASE.replace("warmup: 5s", "warmup: 25s\ncooldown: 5s"), tmp_path)
    assert "leave no measured window" in msg


def test_closed_loop_levels_are_whole_users(tmp_path: Path) -> None:
    assert "not whole" in _err(BASE.replace("level: 4", "level: 2.5"), tmp_path)


def test_normal_needs_stdev(tmp_path: Path) -> None:
    msg = _err(BASE.replace("prompt: {mean: 10}", "prompt: {dist: normal, mean: 10}"), tmp_path)
    assert ":11: prompt" in msg and "stdev" in msg


def test_sweeps_use_settle_not_warmup(tmp_path: Path) -> None:
    text = BASE.replace(
        "  type: steady\n  level: 4\n  duration: 30s\n",
        "  type: sweep\n  start: 1\n  stop: 4\n  step: 1\n  step_duration: 10s\n",
    )
    assert "settle" in _err(text, tmp_path)
    ok = load_yaml_text(text.replace("warmup: 5s\n", ""), Profile)
    assert ok.max_duration == 40


def test_validate_command_prints_one_line_per_problem(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(BASE)
    bad.write_text(BASE.replace("model: m", "modle: m").replace("level: 4", "level: 0"))
    res = CliRunner().invoke(profiles, ["validate", str(good), str(bad)])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert lines[0] == f"{good}: ok (Profile)"
    fields = {ln.split(": ")[1] for ln in lines[1:]}
    assert {"modle", "model", "shape.steady.level"} == fields
    assert all(ln.startswith(f"{bad}:") for ln in lines[1:])
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("kind: Nope\n", "not a known kind"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [1\n", "not valid YAML"),
    ],
)
def test_validate_command_rejects_unclassifiable_files(
    tmp_path: Path, text: str, words: str
) -> None:
    f = tmp_path / "x.yaml"
    f.write_text(text)
    res = CliRunner().invoke(profiles, ["validate", str(f)])
    assert res.exit_code == 1 and words in res.output and str(f) in res.output


def test_a_chain_may_send_embeddings_to_another_service_and_model(tmp_path: Path) -> None:
    text = BASE.replace("api: chat", "api: embeddings\nthen: [chat]") + (
        'embedding_model: org/embedder\nendpoints: {embeddings: "http://10.96.0.7:8080/v1/embeddings"}\n'
    )
    p = load_yaml_text(text, Profile)
    assert p.endpoints.absolute("embeddings") and not p.endpoints.absolute("chat")
    assert (p.model_for("embeddings"), p.model_for("chat")) == ("org/embedder", "m")
    bad = text.replace("http://10.96.0.7:8080", "ftp://10.96.0.7")
    assert "endpoints.embeddings" in _err(bad, tmp_path)
