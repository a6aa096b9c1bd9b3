"""Which nodes run containers is read from the API (kwok's mark on the nodes it simulates),
and workloads are pinned to them by node name, keeping the placement they ask for."""

from __future__ import annotations

from typing import Any

from servegate.harness.cluster import pin_to_nodes
from servegate.k8s.nodes import container_nodes, is_simulated


def node(name: str, simulated: bool = False, ready: bool = True, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"} if simulated else {},
        },
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


class FakeApi:
    """What container_nodes asks of an ApiClient: list_node through CoreV1Api, and
    sanitize_for_serialization (here the nodes are dicts already)."""

    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = nodes

    def sanitize_for_serialization(self, obj: Any) -> Any:
        return obj


def test_simulated_nodes_are_kwoks(monkeypatch: Any) -> None:
    assert is_simulated(node("a", simulated=True)) and not is_simulated(node("b"))
    nodes = [
        node("gpu-1", simulated=True),
        node("real-2"),
        node("real-1"),
        node("down", ready=False),
        node("cordoned", unschedulable=True),
    ]

    class Core:
        def __init__(self, api: FakeApi) -> None:
            self.api = api

        def list_node(self) -> Any:
            return type("List", (), {"items": self.api.nodes})

    monkeypatch.setattr("kubernetes.client.CoreV1Api", Core)
    assert container_nodes(FakeApi(nodes)) == ("real-1", "real-2")
    assert container_nodes(FakeApi([node("a"), node("b")])) is None  # nothing to pin


def deployment(**pod: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [], **pod}}}}


def test_pin_adds_the_node_names_to_every_alternative_term() -> None:
    gpu = {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                                 "values": ["A100"]}]}  # fmt: skip
    h100 = {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                                  "values": ["H100"]}]}  # fmt: skip
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [gpu, h100]}}}  # fmt: skip
    objects = [deployment(affinity=affinity), deployment(), {"kind": "Service"}]
    pinned = pin_to_nodes(objects, ("real-1",))
    want = {"key": "metadata.name", "operator": "In", "values": ["real-1"]}
    terms = pinned[0]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]  # fmt: skip
    assert len(terms) == 2 and all(t["matchFields"] == [want] for t in terms)
    assert terms[0]["matchExpressions"] == gpu["matchExpressions"]  # kept
    plain = pinned[1]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]  # fmt: skip
    assert plain == [{"matchFields": [want]}]
    assert pinned[2] == {"kind": "Service"}
    assert "matchFields" not in gpu  # the input is not changed
