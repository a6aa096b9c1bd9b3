"""The simulator image's contents are derived from what ``servegate sim`` and the load
engine (locustfile, ``servegate calibrate``) import."""

from __future__ import annotations

import tomllib

from servegate.cluster.node import rootfs


def test_sim_contents_are_pinned_and_include_the_simulator() -> None:
    contents = rootfs.sim_contents()
    pyproject = tomllib.loads((rootfs.REPO / "pyproject.toml").read_text())
    pinned = set(pyproject["project"]["dependencies"])
    assert contents.requirements, "the simulator imports third-party packages"
    canon = {rootfs._canon(p.split("==")[0]) + "==" + p.split("==")[1] for p in pinned}
    assert set(contents.requirements) <= canon
    names = {str(f.relative_to(rootfs.REPO)) for f in contents.files}
    assert "servegate/__main__.py" in names
    assert "servegate/cli/sim.py" in names
    assert any(n.startswith("servegate/sim/") for n in names)
    # the load engine, for in-cluster master, worker and calibration pods
    assert {"servegate/load/locustfile.py", "servegate/cli/calibrate.py"} <= names
    assert any(r.startswith("locust==") for r in contents.requirements)
    # Heavy parts of servegate neither needs stay out of the image.
    assert not any(n.startswith(("servegate/cluster/", "servegate/k8s/")) for n in names)
    assert contents.key() == rootfs.sim_contents().key()
