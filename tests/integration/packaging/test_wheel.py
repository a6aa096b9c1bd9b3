"""The wheel installs servegate's pytest plugin under servegate's own name.

PyPI has a widely used package called ``fixtures``; an install of servegate must not shadow
it. The wheel is built offline with the pinned backend from a copy of the sources, installed
with --no-deps into a fresh venv whose dependencies come from the project venv's
site-packages (added as a plain path, so the project's own editable install is not seen),
and both packages are imported side by side.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from servegate.paths import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCES = ("pyproject.toml", "README.md", "servegate", "fixtures")


def _run(argv: list[str], cwd: Path) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        cwd=src,
    )
    (found,) = out.glob("servegate-*.whl")
    return found


def test_wheel_has_no_top_level_fixtures_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
        entry_points = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        text = zf.read(entry_points).decode()
    assert "fixtures" not in tops
    assert {"servegate", "pytest_servegate"} <= tops
    assert "servegate = pytest_servegate.plugin" in text


def test_installs_beside_pypi_fixtures(wheel: Path, tmp_path: Path) -> None:
    import fixtures  # PyPI's, a dev dependency

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path
    )
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
        ).strip()
    )
    (site / "zz_project_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    probe = (
        "import fixtures, servegate, pytest_servegate.plugin as p\n"
        "print(fixtures.__file__); print(hasattr(fixtures, 'Fixture'))\n"
        "print(servegate.__file__); print(p.__file__)\n"
    )
    lines = _run([str(python), "-c", probe], cwd=tmp_path).splitlines()
    assert Path(lines[0]).parent == Path(fixtures.__file__).parent  # PyPI's package, unshadowed
    assert lines[1] == "True"
    assert lines[2].startswith(str(site)) and lines[3].startswith(str(site))  # the wheel's copy
    helptext = _run([str(python), "-m", "pytest", "--help", "-p", "no:cacheprovider"], tmp_path)
    assert "--sg-cluster" in helptext  # the plugin loads through its pytest11 entry point
