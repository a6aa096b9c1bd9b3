"""A real simulator process downloads into an empty cache once; the next start finds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.sim.modelcache import MARKER, model_dir
from servegate.sim.process import SimProcess
from servegate.wait import poll

pytestmark = pytest.mark.integration


def _plan_line(sim: SimProcess) -> str:
    # printed before the ready line, but stderr is drained by a thread: await it
    lines = poll(lambda: [ln for ln in sim.stderr_lines if "model cache" in ln], 60, 0.02)
    assert lines, f"no model-cache line on stderr: {sim.stderr_lines}"
    return lines[0]


def test_second_start_skips_the_download(tmp_path: Path) -> None:
    knobs = {"model_cache": str(tmp_path), "download_delay_s": 0.3, "startup_delay_s": 0.1}
    with SimProcess(**knobs) as first:
        assert "miss" in _plan_line(first)
    marker = model_dir(tmp_path, "sim-model") / MARKER
    assert marker.is_file(), "a finished download must leave its marker"
    with SimProcess(**knobs) as second:
        assert "hit" in _plan_line(second)
