"""The simulator image's contents are derived from what ``servegate sim`` imports."""

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
    # Heavy parts of servegate the simulator does not need stay out of the image.
    assert not any(n.startswith(("servegate/load/", "servegate/cluster/")) for n in names)
    assert contents.key() == rootfs.sim_contents().key()
