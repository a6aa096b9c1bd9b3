"""The calibration CPU sampler stops listing processes once every worker is known."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from servegate.load.calibration_run import CpuSampler


class _Fake:
    def __init__(self, pid: int, argv: list[str]) -> None:
        self.pid = pid
        self._argv = argv
        self.cpu = 1.0

    def cmdline(self) -> list[str]:
        return self._argv

    def cpu_times(self) -> Any:
        self.cpu += 0.5
        return SimpleNamespace(user=self.cpu, system=0.0)


@pytest.mark.parametrize(("expected", "scans"), [(1, 1), (2, 4), (None, 4)])
def test_children_listed_until_all_workers_found(
    monkeypatch: pytest.MonkeyPatch, expected: int | None, scans: int
) -> None:
    kids = [_Fake(101, ["locust", "--master"]), _Fake(102, ["locust", "--worker"])]
    calls = []

    def children(self: psutil.Process, recursive: bool = False) -> list[_Fake]:
        calls.append(recursive)
        return kids

    monkeypatch.setattr(psutil.Process, "children", children)
    sampler = CpuSampler(None, expected)
    for _ in range(4):
        sampler.poll()
    assert len(calls) == scans
    assert list(sampler._workers) == [102]
    assert [sorted(cpu) for _, cpu in sampler.samples] == [[102]] * 4
