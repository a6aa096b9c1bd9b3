"""bench/foreign_suites.py takes down a stand-in it brought up, and only that."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "foreign_suites.py"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[bool], list[list[str]]]:
    spec = importlib.util.spec_from_file_location("foreign_suites_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    running = [False]  # what LocalCluster.running() answers now
    calls: list[list[str]] = []

    def run(argv: list[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        running[0] = False
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(mod.LocalCluster, "running", lambda self: running[0])
    monkeypatch.setattr(mod.subprocess, "run", run)
    return mod, running, calls


def test_a_cluster_the_run_brought_up_is_taken_down_even_when_interrupted(
    bench: tuple[ModuleType, list[bool], list[list[str]]],
) -> None:
    mod, running, calls = bench
    with pytest.raises(KeyboardInterrupt), mod.brought_up("t", keep=False):
        running[0] = True  # the run's prepare() brings it up
        raise KeyboardInterrupt
    assert calls == [[*mod.CLI, "cluster", "down", "--name", "t"]]


def test_a_cluster_running_before_or_kept_is_left_running(
    bench: tuple[ModuleType, list[bool], list[list[str]]],
) -> None:
    mod, running, calls = bench
    running[0] = True
    with mod.brought_up("t", keep=False):
        pass
    running[0] = False
    with mod.brought_up("t", keep=True):
        running[0] = True
    assert calls == [] and running[0]
