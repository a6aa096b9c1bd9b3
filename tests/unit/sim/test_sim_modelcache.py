"""The simulated model download: skipped once the cache holds the model, repeated without one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli.sim import sim
from servegate.errors import ConfigError
from servegate.sim.app import SimApp
from servegate.sim.modelcache import MARKER, model_dir, plan_start
from servegate.sim.settings import SimSettings, load_settings


def test_first_start_downloads_then_later_starts_only_load(tmp_path: Path) -> None:
    first = plan_start(str(tmp_path), "org/model-7b", download_s=8.0, load_s=2.0)
    assert (first.cache_hit, first.download_s, first.total_s) == (False, 8.0, 10.0)
    assert first.marker is not None and not first.marker.exists()
    # a start killed before its download finished leaves nothing behind: still a miss
    assert not plan_start(str(tmp_path), "org/model-7b", 8.0, 2.0).cache_hit
    first.complete_download("org/model-7b")
    assert first.marker.is_file()
    second = plan_start(str(tmp_path), "org/model-7b", download_s=8.0, load_s=2.0)
    assert (second.cache_hit, second.download_s, second.total_s) == (True, 0.0, 2.0)
    assert "hit" in second.describe()
    # another model in the same cache is not found
    assert not plan_start(str(tmp_path), "other", 8.0, 2.0).cache_hit


def test_without_a_cache_every_start_downloads(tmp_path: Path) -> None:
    plan = plan_start(None, "m", download_s=3.0, load_s=1.0)
    assert (plan.cache_hit, plan.marker, plan.total_s) == (False, None, 4.0)
    plan.complete_download("m")  # nothing to record, and nothing written anywhere
    assert list(tmp_path.iterdir()) == []
    assert "no model cache" in plan.describe()


def test_model_names_cannot_escape_the_cache(tmp_path: Path) -> None:
    d = model_dir(tmp_path, "../../etc/passwd")
    assert d.parent == tmp_path
    assert ".." not in d.name.split("--")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any directory")
def test_an_unwritable_cache_is_a_one_line_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / model_dir(ro, "m").name).mkdir()
    ro.chmod(0o500)
    (ro / model_dir(ro, "m").name).chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            plan_start(str(ro), "m", 1.0, 1.0)
    finally:
        (ro / model_dir(ro, "m").name).chmod(0o700)
        ro.chmod(0o700)


def test_a_cache_path_that_is_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match=r"model_cache .*file: cannot create"):
        plan_start(str(f), "m", 1.0, 1.0)


def test_the_app_is_loading_for_download_plus_load_on_a_miss(tmp_path: Path) -> None:
    now = [100.0]
    env = {
        "SERVEGATE_SIM_MODEL_CACHE": str(tmp_path),
        "SERVEGATE_SIM_DOWNLOAD_DELAY_S": "5",
        "SERVEGATE_SIM_STARTUP_DELAY_S": "1",
    }
    settings = load_settings(None, env, {})
    app = SimApp(settings, clock=lambda: now[0])
    now[0] = 105.0
    app.complete_download()  # serve() calls it when the download time is up
    now[0] = 105.5
    assert not app.loaded  # downloaded, still loading
    now[0] = 106.0
    assert app.loaded
    now[0] = 200.0
    again = SimApp(settings, clock=lambda: now[0])
    assert again.start_plan.cache_hit
    now[0] = 200.5
    assert not again.loaded
    now[0] = 201.0
    assert again.loaded


def test_a_late_download_keeps_the_app_loading(tmp_path: Path) -> None:
    # On a busy event loop the download's timer may run after the load time is up: the
    # model is not loaded (and /health not 200) before its download is recorded.
    now = [0.0]
    settings = SimSettings(model_cache=str(tmp_path), download_delay_s=1, startup_delay_s=1)
    app = SimApp(settings, clock=lambda: now[0])
    now[0] = 5.0
    assert not app.loaded
    app.complete_download()
    assert app.loaded and (model_dir(tmp_path, settings.model_name) / MARKER).is_file()


def test_the_cli_reports_an_unusable_cache_in_one_line(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    res = CliRunner().invoke(sim, ["--model-cache", str(f), "--port", "0", "--host", "127.0.0.1"])
    assert res.exit_code == 1
    assert "model_cache" in res.output and "Traceback" not in res.output
    assert not (tmp_path / MARKER).exists()
