"""The in-container GPU allocation check's parsing, node choice and judgement
(servegate.checks.gpu.devices), on hand-made probe output and nodes."""

from __future__ import annotations

from typing import Any

import pytest

from servegate.checks.gpu.devices import (
    ALL,
    Seen,
    assess_devices,
    parse_output,
    pick_node,
    plan,
    probe_pod,
)
from servegate.errors import MissingCapability

SMI = """GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-5b1c6b3e-aaaa)
GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-77d0e0c2-bbbb)
NVIDIA_VISIBLE_DEVICES=GPU-5b1c6b3e-aaaa,GPU-77d0e0c2-bbbb
"""


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("NVIDIA_VISIBLE_DEVICES=gpu-0\n", ("gpu-0",)),
        ("NVIDIA_VISIBLE_DEVICES=gpu-0,gpu-2\ndevice /dev/nvidia0\n", ("gpu-0", "gpu-2")),
        ("NVIDIA_VISIBLE_DEVICES=all\n", ALL),
        ("NVIDIA_VISIBLE_DEVICES=none\n", ()),
        ("NVIDIA_VISIBLE_DEVICES=\n", ()),
        ("NVIDIA_VISIBLE_DEVICES unset\n", ()),
        (SMI, ("GPU-5b1c6b3e-aaaa", "GPU-77d0e0c2-bbbb")),
        ("No devices were found\nNVIDIA_VISIBLE_DEVICES=\n", ()),
    ],
)
def test_parse_output(text: str, want: tuple[str, ...]) -> None:
    assert parse_output(text) == want


def _seen(pod: str, requested: int, devices: tuple[str, ...], phase: str = "Succeeded") -> Seen:
    return Seen(pod, "n1", requested, phase, devices, "")


def test_exact_disjoint_allocation_passes() -> None:
    seen = [_seen("a", 1, ("gpu-0",)), _seen("b", 2, ("gpu-1", "gpu-2")), _seen("z", 0, ())]
    assert assess_devices(seen) == []


def test_each_way_of_being_wrong_is_reported() -> None:
    seen = [
        _seen("a", 1, ("gpu-0",)),
        _seen("b", 2, ("gpu-0",)),  # one short, and shares gpu-0 with a
        _seen("z", 0, ALL),  # took every GPU itself
        _seen("c", 1, (), phase="Failed"),
    ]
    out = assess_devices(seen)
    assert "pod b requested 2 GPU(s) but sees 1: gpu-0" in out
    assert "GPU gpu-0 on node n1 is visible in both a and b" in out
    assert any(f.startswith("pod z requested 0 GPU(s) but sees every GPU") for f in out)
    assert any(f.startswith("probe pod c ended Failed") for f in out)
    assert len(out) == 4


def _node(name: str, gpus: int, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "metadata": {"name": name, "labels": {}, "annotations": {}},
        "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}},
        "spec": {},
    }
    for k, v in extra.items():
        node[k].update(v)
    return node


def _pod(node: str, gpus: int, phase: str = "Running") -> dict[str, Any]:
    res = {"requests": {"nvidia.com/gpu": str(gpus)}, "limits": {"nvidia.com/gpu": str(gpus)}}
    return {
        "metadata": {"name": f"p-{node}-{gpus}"},
        "spec": {"nodeName": node, "containers": [{"resources": res}]},
        "status": {"phase": phase},
    }


def test_pick_node_takes_the_container_node_with_most_free_gpus() -> None:
    nodes = [
        _node("kwok-1", 8, metadata={"annotations": {"kwok.x-k8s.io/node": "fake"}}),
        _node("real-a", 4),
        _node("real-b", 3),
        _node("tainted", 8, spec={"taints": [{"key": "team", "effect": "NoSchedule"}]}),
    ]
    pods = [_pod("real-a", 3), _pod("real-b", 1), _pod("real-a", 4, phase="Succeeded")]
    picked = pick_node(nodes, pods, None)
    assert picked["metadata"]["name"] == "real-b"  # 2 free vs 1; kwok and tainted left alone
    assert pick_node(nodes, pods, ("real-a",))["metadata"]["name"] == "real-a"
    with pytest.raises(MissingCapability, match="no node that runs containers has a free"):
        pick_node(nodes, [*pods, _pod("real-b", 2), _pod("real-a", 1)], ("real-a", "real-b"))


def test_plan_and_pods() -> None:
    assert plan(1) == [("gpu-one", 1), ("gpu-none", 0)]
    assert plan(2) == [("gpu-one", 1), ("gpu-one-b", 1), ("gpu-none", 0)]
    assert plan(5) == [("gpu-one", 1), ("gpu-two", 2), ("gpu-none", 0)]
    pod = probe_pod("gpu-two", "n1", 2)
    (c,) = pod["spec"]["containers"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 2 and "env" not in c
    assert pod["spec"]["affinity"]["nodeAffinity"]  # pinned by node name
    none = probe_pod("gpu-none", "n1", 0, inject_all=True)
    (c0,) = none["spec"]["containers"]
    assert "nvidia.com/gpu" not in c0["resources"]["limits"]
    assert c0["env"] == [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]
