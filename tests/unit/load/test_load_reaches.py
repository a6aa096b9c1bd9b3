"""A profile that names a second Service (the RAG profile's embeddings) names it as the load
reaches it: by the Service's DNS name when the load is sent from pods in the cluster (a
port-forward on this machine is not reachable from there), as given otherwise. The first
whole-suite foreign run sent the RAG check's embeddings to 127.0.0.1 from a pod."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from servegate.errors import UserError
from servegate.harness.cluster import ServiceURL
from servegate.harness.load import as_load_reaches


def url(routes: bool, service: str, port: int, base: str) -> ServiceURL:
    handle: Any = SimpleNamespace(routes_to_services=routes)
    return ServiceURL(base, handle, "rag-ns", service, port)


@pytest.mark.parametrize(
    ("routes", "load_from", "reached"),
    [
        (False, "auto", "http://embedding-service.rag-ns.svc:8080"),  # foreign: from pods
        (False, "cluster", "http://embedding-service.rag-ns.svc:8080"),
        (False, "host", "http://127.0.0.1:40002"),  # through its port-forward
        (True, "auto", "http://127.0.0.1:40002"),  # the local cluster: this host routes
    ],
)
def test_the_second_service_as_the_load_reaches_it(
    routes: bool, load_from: str, reached: str
) -> None:
    llm = url(routes, "llm-service", 8000, "http://127.0.0.1:40001")
    emb = url(routes, "embedding-service", 8080, "http://127.0.0.1:40002")
    assert as_load_reaches(load_from, llm, emb) == reached


def test_a_url_outside_the_cluster_cannot_be_reached_from_its_pods() -> None:
    llm = url(False, "llm-service", 8000, "http://127.0.0.1:40001")
    with pytest.raises(UserError, match="not a Service of the run's cluster"):
        as_load_reaches("auto", llm, "http://127.0.0.1:9999")
    assert as_load_reaches("auto", "http://127.0.0.1:1", "http://x:2") == "http://x:2"
