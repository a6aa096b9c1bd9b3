"""build_streaming: counts `go build -v` package lines, keeps the log, leaks no pipe."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest

from servegate.cluster.gobuild import ProgressFn, build_streaming
from servegate.errors import UserError

FAKE_GO = "printf 'example.com/a\\nexample.com/b\\n# comment\\n' >&2; echo out; exit {rc}"


def _run(tmp_path: Path, rc: int) -> list[tuple[str, int, int]]:
    seen: list[tuple[str, int, int]] = []
    cmd = ["sh", "-c", FAKE_GO.format(rc=rc)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        try:
            build_streaming(cmd, tmp_path, tmp_path / "build.log", {}, "fake", 0, _record(seen))
        finally:
            gc.collect()  # an unclosed pipe would warn here, and the warning is an error
    return seen


def _record(seen: list[tuple[str, int, int]]) -> ProgressFn:
    return lambda label, done, total: seen.append((label, done, total))


def test_package_lines_are_counted_and_logged(tmp_path: Path) -> None:
    seen = _run(tmp_path, 0)
    assert seen == [("fake", 1, 0), ("fake", 2, 0), ("fake", 2, 2)]
    log = (tmp_path / "build.log").read_text()
    assert "example.com/b" in log and "out" in log and log.startswith("$ sh -c")


def test_a_failed_build_names_its_last_line_and_log(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"go build of fake failed \(# comment\).*build.log"):
        _run(tmp_path, 3)
