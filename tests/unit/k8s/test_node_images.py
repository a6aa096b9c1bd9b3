"""On a cluster servegate did not make, an image servegate builds is used only when the
kubelet of every node that runs containers reports it in its runtime (``status.images``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from servegate.checks.operators.rayserve import load_image
from servegate.cluster.node.images import RAY
from servegate.errors import MissingCapability
from servegate.k8s.nodes import holding_image


def node(name: str, *images: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {"images": [{"names": names, "sizeBytes": 1} for names in images]},
    }


def test_a_node_holds_an_image_under_any_of_its_names() -> None:
    nodes = [
        node("a", ["docker.io/library/x@sha256:1", "docker.io/library/x:1"]),
        node("b", ["servegate.local/ray:1"]),
        {"metadata": {"name": "c"}, "status": {}},  # a node that reports no images
    ]
    assert holding_image("docker.io/library/x:1", nodes) == ["a"]
    assert holding_image("servegate.local/ray:1", nodes) == ["b"]
    assert holding_image("servegate.local/ray:2", nodes) == []
    assert holding_image("servegate.local/ray", nodes) == []  # a whole reference, not a prefix


class Nodes:
    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = nodes

    def list_node(self) -> Any:
        return SimpleNamespace(items=self.nodes)


def foreign(nodes: list[dict[str, Any]], container_nodes: tuple[str, ...] | None) -> Any:
    api_client = SimpleNamespace(sanitize_for_serialization=lambda n: n)
    client = SimpleNamespace(core=Nodes(nodes), api_client=api_client)
    handle = SimpleNamespace(kind="existing", client=client, container_nodes=container_nodes)
    return SimpleNamespace(cluster=handle)


def test_the_ray_image_is_used_when_every_container_node_has_it() -> None:
    nodes = [node("real", [RAY]), node("kwok-1")]  # simulated nodes hold nothing
    assert load_image(foreign(nodes, ("real",))) == RAY
    assert load_image(foreign([node("a", [RAY]), node("b", ["x", RAY])], None)) == RAY


@pytest.mark.parametrize(
    ("nodes", "containers", "named"),
    [
        ([node("real", ["servegate.local/sim:1"]), node("kwok-1", [RAY])], ("real",), "real"),
        ([node("a", [RAY]), node("b")], None, "b"),
        ([node("kwok-1", [RAY])], (), "no node that runs containers"),
    ],
)
def test_without_it_the_check_is_a_missing_capability_naming_the_nodes(
    nodes: list[dict[str, Any]], containers: tuple[str, ...] | None, named: str
) -> None:
    with pytest.raises(MissingCapability, match=f"not in the runtime of {named}"):
        load_image(foreign(nodes, containers))
