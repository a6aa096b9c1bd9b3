"""The Ray image's inputs: its pinned package list, the Ray version the two overlays name, and
the versions it shares with the simulator (no build, no download; the image itself runs in
suites/conformance/operators/test_ray_serve_running.py)."""

from __future__ import annotations

import re
import tomllib

import pytest

from servegate.cluster.node import images, rayimage
from servegate.errors import UserError
from servegate.k8s.render import render_unit, resolve_unit
from servegate.paths import REPO


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: tuple[str, ...]) -> dict[str, str]:
    return {_canon(p.split("==")[0]): p.split("==")[1] for p in lines}


def _ray_images(overlay: str) -> tuple[str, set[str]]:
    rs = next(
        o for o in render_unit(resolve_unit("ray-serve", overlay)) if o["kind"] == "RayService"
    )
    cfg = rs["spec"]["rayClusterConfig"]
    groups = [cfg["headGroupSpec"], *cfg["workerGroupSpecs"]]
    found = {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    return cfg["rayVersion"], found


def test_lock_pins_every_package_exactly_and_ray_at_the_image_version() -> None:
    pins = _pins(rayimage.requirements())
    assert pins["ray"] == rayimage.RAY_VERSION
    assert len(pins) == len(rayimage.requirements()), "a package is pinned twice"
    assert {"fastapi", "starlette", "uvicorn", "aiohttp", "protobuf"} <= set(pins)


def test_both_overlays_run_the_lock_ray_version() -> None:
    version, gpu_images = _ray_images("gpu")
    assert version == rayimage.RAY_VERSION
    assert gpu_images == {f"rayproject/ray:{rayimage.RAY_VERSION}-gpu"}
    sim_version, sim_images = _ray_images("sim")
    assert sim_version == rayimage.RAY_VERSION
    assert sim_images == {images.RAY}


def test_lock_agrees_with_the_project_pins_it_shares() -> None:
    """The simulator's packages come first on the image's PYTHONPATH: a package in both must
    be the same version, or Ray would run with one it was not resolved against."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    ours = {_canon(d.split("==")[0]): d.split("==")[1] for d in project if "==" in d}
    lock = _pins(rayimage.requirements())
    shared = sorted(set(ours) & set(lock))
    assert "pydantic" in shared and "pyyaml" in shared
    assert {n: (lock[n], ours[n]) for n in shared if lock[n] != ours[n]} == {}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("ray==2.46.0\nfastapi>=0.1\n", "2: not an exact pin"),
        ("fastapi==0.165.0  # web\n", "does not pin ray==2.46.0"),
    ],
)
def test_lock_errors_name_the_line(text: str, named: str) -> None:
    with pytest.raises(UserError, match=re.escape(named)):
        rayimage.requirements(text)


def test_ray_image_is_a_named_builder_with_progress() -> None:
    assert "ray" in images.BUILDERS and "ray" in images.WITH_PROGRESS
    with pytest.raises(UserError, match="no local image 'rai'"):
        images.build("rai")
