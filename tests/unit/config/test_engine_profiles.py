"""The engine overlay's copies of shipped profiles differ from them only in what llama-server
needs: a new connection per request (it closes every streamed connection, docs/engine.md)."""

from __future__ import annotations

import pytest
import yaml

from servegate.config.base import load_yaml_file
from servegate.config.profile import Profile
from servegate.paths import LOADPROFILES

# (shipped, engine copy, keys besides connections and name that the copy may change)
COPIES = [
    ("patterns/pattern-chat", "patterns/pattern-chat-engine", ()),
    ("ramp-autoscale", "ramp-autoscale-engine", ("description", "model")),
]


@pytest.mark.parametrize(("shipped", "copy", "free"), COPIES, ids=[c[1] for c in COPIES])
def test_the_engine_copy_opens_a_connection_per_request(
    shipped: str, copy: str, free: tuple[str, ...]
) -> None:
    base = yaml.safe_load((LOADPROFILES / f"{shipped}.yaml").read_text())
    engine = yaml.safe_load((LOADPROFILES / f"{copy}.yaml").read_text())
    assert engine.pop("connections") == {"mode": "per-request"}
    assert base.pop("connections", None) != {"mode": "per-request"}
    assert engine.pop("name") == copy.rsplit("/", 1)[-1]
    base.pop("name")
    for key in free:
        base.pop(key), engine.pop(key)
    assert engine == base
    assert load_yaml_file(LOADPROFILES / f"{copy}.yaml", Profile).connections.mode == "per-request"


def test_the_engine_cluster_sweep_keeps_the_pattern_sweeps_criteria() -> None:
    base = load_yaml_file(LOADPROFILES / "patterns/pattern-sweep.yaml", Profile)
    engine = load_yaml_file(LOADPROFILES / "patterns/pattern-sweep-engine.yaml", Profile)
    assert engine.shape.criteria == base.shape.criteria  # type: ignore[union-attr]
    assert engine.connections.mode == "per-request"
    # 4, 8, ... 64 req/s: 16 steps of 10 s after a 2 s settle each
    assert (engine.shape.start, engine.shape.step, engine.shape.stop) == (4, 4, 64)  # type: ignore[union-attr]
    assert (engine.shape.step_duration, engine.shape.settle) == (10, 2)  # type: ignore[union-attr]
