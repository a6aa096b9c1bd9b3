"""Every command example in the README and docs names commands and options that exist.

Examples are taken from fenced shell blocks and inline code spans. For ``servegate ...`` the
subcommand path is resolved through the CLI and each ``--option`` must appear in that
command's ``--help``; for ``pytest ...`` each option must be servegate's plugin option or a
pytest option used in the docs; ``make``/``tox`` targets must exist; ``python bench/...`` and
``python scripts/...`` files must exist and define the options named.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner

from pytest_servegate.options import add_options
from servegate.cli import cli
from servegate.paths import REPO

DOCS = [REPO / "README.md", REPO / "results" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
STARTS = ("servegate ", "pytest ", "make ", "tox ", "python bench/", "python scripts/")
# pytest's own options that the docs use, and pytest-kind's --kubeconfig, which servegate
# reads too (servegate's own are read from the plugin).
PYTEST_CORE = set(
    [
        "-m",
        "-k",
        "-q",
        "-s",
        "-x",
        "-p",
        "-v",
        "-ra",
        "-n",
        "-h",
        "--help",
        "--junitxml",
        "--collect-only",
        "--co",
        "--lf",
        "--maxfail",
        "--timeout",
        "--kubeconfig",
        "--ignore",
    ]
)


@dataclass(frozen=True)
class Example:
    doc: str
    text: str

    def __str__(self) -> str:
        return f"{self.doc}: {self.text}"


def _commands(markdown: str) -> list[str]:
    out: list[str] = []
    fenced = re.findall(r"^```(?:sh|bash|console|shell)?\n(.*?)^```", markdown, flags=re.M | re.S)
    for block in fenced:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith(STARTS):
                out.append(line.split(" #", 1)[0])
    for span in re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)):
        if span.startswith(STARTS):
            out.append(span)
    return out


def examples() -> list[Example]:
    found = {
        Example(d.relative_to(REPO).as_posix(), c) for d in DOCS for c in _commands(d.read_text())
    }
    return sorted(found, key=str)


def _words(text: str) -> list[str]:
    text = text.replace("\\|", "|")
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    return [w.strip("[](),") for w in words if w.strip("[](),")]


def _options(words: list[str]) -> list[str]:
    return [w.split("=", 1)[0] for w in words if w.startswith("-") and w not in ("-", "--")]


def _plugin_options() -> set[str]:
    names: set[str] = set()

    class Group:
        def addoption(self, *opts: str, **_: object) -> None:
            names.update(opts)

    class Parser:
        def getgroup(self, *_: object, **__: object) -> Group:
            return Group()

        def addini(self, *_: object, **__: object) -> None:
            pass

    add_options(Parser())  # type: ignore[arg-type]
    return names


def _check_servegate(words: list[str]) -> None:
    ctx = click.Context(cli)
    cmd: click.Command = cli
    path: list[str] = []
    for w in words[1:]:
        if not isinstance(cmd, click.Group):
            break
        names = [n for n in w.split("|") if n]
        subs = [cmd.get_command(ctx, n) for n in names]
        if not names or any(s is None for s in subs):
            assert not re.fullmatch(r"[a-z][a-z-]*", w), f"servegate {' '.join(path)} has no {w}"
            break
        if len(names) > 1:  # `cluster up|down|status`: each alternative must exist
            return
        path.append(w)
        cmd = subs[0]  # type: ignore[assignment]
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, f"servegate {' '.join(path)} --help failed: {result.output}"
    for opt in _options(words):
        for alt in opt.split("|"):
            assert re.search(rf"(^|[\s,/]){re.escape(alt)}\b", result.output, flags=re.M), (
                f"servegate {' '.join(path)} has no option {alt}"
            )


@pytest.mark.parametrize("example", examples(), ids=str)
def test_command_example_exists(example: Example) -> None:
    words = _words(example.text)
    head = words[0]
    if head == "servegate":
        _check_servegate(words)
    elif head == "pytest":
        known = _plugin_options() | PYTEST_CORE
        unknown = [o for o in _options(words) if o not in known]
        assert not unknown, f"pytest options not defined: {unknown}"
        for w in words[1:]:
            if w.startswith(("suites/", "tests/")):
                assert (REPO / w.split("::")[0]).exists(), f"{w} does not exist"
    elif head == "make":
        makefile = (REPO / "Makefile").read_text()
        for target in [w for w in words[1:] if re.fullmatch(r"[a-z-]+", w)]:
            assert re.search(rf"^([\w-]+ )*{target}( [\w-]+)*:", makefile, flags=re.M), target
    elif head == "tox":
        tox = (REPO / "tox.ini").read_text()
        envs = words[words.index("-e") + 1].split("|") if "-e" in words else []
        for env in envs:
            assert f"[testenv:{env}]" in tox, env
    else:  # python bench/x.py / python scripts/x.py
        script = REPO / words[1]
        assert script.exists(), f"{words[1]} does not exist"
        source = script.read_text()
        for opt in _options(words[2:]):
            assert f'"{opt}"' in source, f"{words[1]} defines no option {opt}"


def test_examples_are_found() -> None:
    heads = {e.text.split()[0] for e in examples()}
    assert {"servegate", "pytest", "make"} <= heads
