"""service_url reaches a Service on its own first port unless told another, on the local
cluster (ClusterIP) and through the relay alike: a KServe predictor listens on 80, not 8000."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from servegate.harness import cluster as harness
from servegate.k8s import endpoint, relay


def handle(routes: bool, ports: list[int]) -> Any:
    svc = SimpleNamespace(
        spec=SimpleNamespace(
            cluster_ip="10.96.0.7",
            ports=[SimpleNamespace(name=f"p{p}", port=p) for p in ports],
        )
    )
    core = SimpleNamespace(read_namespaced_service=lambda name, ns: svc)
    return harness.ClusterHandle(
        kind="local" if routes else "existing",
        kubeconfig="kc",
        context="ctx",
        client=SimpleNamespace(core=core),  # type: ignore[arg-type]
        routes_to_services=routes,
        scope=SimpleNamespace(labels=lambda: {"run": "r"}),  # type: ignore[arg-type]
    )


@pytest.fixture
def relayed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ports relay pods were asked to join to."""
    seen: list[int] = []

    @contextlib.contextmanager
    def fake_relay(cluster: Any, ns: str, svc: str, port: int, *a: Any) -> Iterator[str]:
        seen.append(port)
        yield "relay-pod"

    @contextlib.contextmanager
    def fake_forward(*a: Any, **kw: Any) -> Iterator[str]:
        yield "http://127.0.0.1:40001"

    monkeypatch.setattr(relay, "relay", fake_relay)
    monkeypatch.setattr(endpoint, "port_forward", fake_forward)
    monkeypatch.setattr(endpoint, "wait_accepting", lambda host, port, t: True)
    return seen


@pytest.mark.parametrize(("asked", "reached"), [(None, 80), (8080, 8080)])
def test_the_relay_joins_the_services_port(relayed: list[int], asked: Any, reached: int) -> None:
    with harness.service_url(handle(False, [80, 9090]), "ns", "llm-predictor", asked) as url:
        assert url == "http://127.0.0.1:40001" and url.port == reached
    assert relayed == [reached]


@pytest.mark.parametrize(("asked", "reached"), [(None, 80), (8080, 8080)])
def test_the_cluster_ip_url_uses_the_same_port(
    relayed: list[int], asked: Any, reached: int
) -> None:
    with harness.service_url(handle(True, [80, 9090]), "ns", "llm-predictor", asked) as url:
        assert url == f"http://10.96.0.7:{reached}" and url.port == reached
    assert relayed == []
