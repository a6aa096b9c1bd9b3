"""The aggregated-API objects of metrics-server and prometheus-adapter, and their flags."""

from __future__ import annotations

import re
from typing import Any

import pytest

from servegate.cluster.addons import load
from servegate.cluster.addons.aggregated import Aggregated, available
from servegate.cluster.addons.metrics_server import API as METRICS_API
from servegate.cluster.addons.prometheus_adapter import API as ADAPTER_API
from servegate.cluster.addons.prometheus_adapter import rules


def by_kind(objs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for o in objs:
        out.setdefault(o["kind"], []).append(o)
    return out


def test_objects_route_the_apiservice_to_the_bridge_port() -> None:
    objs = by_kind(ADAPTER_API.objects("10.244.0.1", 6543))
    (svc,) = objs["Service"]
    assert "selector" not in svc["spec"]
    assert svc["spec"]["ports"][0]["targetPort"] == 6543
    (eps,) = objs["Endpoints"]
    assert eps["subsets"][0]["addresses"] == [{"ip": "10.244.0.1"}]
    assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] == "true"
    (sl,) = objs["EndpointSlice"]
    assert sl["metadata"]["labels"]["kubernetes.io/service-name"] == svc["metadata"]["name"]
    assert sl["ports"][0]["port"] == 6543
    names = [a["metadata"]["name"] for a in objs["APIService"]]
    assert names == ["v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"]
    for a in objs["APIService"]:
        assert a["spec"]["service"] == {
            "name": svc["metadata"]["name"],
            "namespace": "kube-system",
            "port": 443,
        }


def test_the_adapter_never_claims_external_metrics() -> None:
    names = [a["metadata"]["name"] for a in by_kind(ADAPTER_API.objects("x", 1))["APIService"]]
    assert not [n for n in names if "external.metrics" in n]
    assert METRICS_API.apiservice_names() == ["v1beta1.metrics.k8s.io"]


def test_an_apiservice_served_by_someone_else_is_not_taken_over() -> None:
    api = Aggregated(addon="a", service="mine", group="g.io", versions=("v1",))
    theirs = {"spec": {"service": {"name": "keda", "namespace": "keda"}}}
    msg = api.owner_conflict(theirs, "v1.g.io")
    assert msg is not None and "keda/keda" in msg
    assert api.owner_conflict({"spec": {}}, "v1.g.io") is not None  # a built-in (local) API
    ours = {"spec": {"service": {"name": "mine", "namespace": "kube-system"}}}
    assert api.owner_conflict(ours, "v1.g.io") is None
    assert api.owner_conflict(None, "v1.g.io") is None


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (None, "not registered"),
        ({"status": {}}, "no Available condition"),
        (
            {"status": {"conditions": [{"type": "Available", "status": "False", "reason": "X"}]}},
            "X",
        ),
    ],
)
def test_available_names_the_reason(obj: dict[str, Any] | None, needle: str) -> None:
    msg = available(obj, "v1.g.io")
    assert msg is not None and needle in msg


def test_available_true() -> None:
    obj = {"status": {"conditions": [{"type": "Available", "status": "True"}]}}
    assert available(obj, "v1.g.io") is None


def test_adapter_rules_map_the_vllm_and_llamacpp_queue_gauges_per_pod() -> None:
    vllm, llamacpp = rules()["rules"]
    assert "vllm:num_requests_(waiting|running)" in vllm["seriesQuery"]
    assert "llamacpp:requests_(deferred|processing)" in llamacpp["seriesQuery"]
    for rule, series, metric in (
        (vllm, "vllm:num_requests_waiting", "vllm_num_requests_waiting"),
        (llamacpp, "llamacpp:requests_deferred", "llamacpp_requests_deferred"),
    ):
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
        # the adapter's "as" template, ${1} -> the first group, applied as Go's regexp would
        template = rule["name"]["as"].replace("${1}", r"\1")
        assert re.sub(rule["name"]["matches"], template, series) == metric


def test_both_addons_are_registered() -> None:
    for name in ("metrics-server", "prometheus-adapter"):
        addon = load(name)
        assert addon.name == name and addon.processes == (name,)


class _FakeResource:
    def __init__(self, obj: dict[str, Any] | None) -> None:
        self.obj = obj

    def get(self, name: str) -> Any:
        if self.obj is None:
            raise LookupError(name)  # what the client's NotFound amounts to here
        obj = self.obj
        return type("Inst", (), {"to_dict": lambda _self: obj})()


class _FakeClient:
    def __init__(self, obj: dict[str, Any] | None) -> None:
        res = _FakeResource(obj)
        self.dynamic = type(
            "Dyn", (), {"resources": type("R", (), {"get": lambda *_a, **_k: res})()}
        )()


def test_check_existing_on_other_clusters() -> None:
    ms = load("metrics-server")
    msg = ms.check_existing(_FakeClient(None))
    assert msg is not None and "install metrics-server" in msg and "\n" not in msg
    down = {"status": {"conditions": [{"type": "Available", "status": "False", "reason": "Gone"}]}}
    msg = load("prometheus-adapter").check_existing(_FakeClient(down))
    assert msg is not None and "Gone" in msg and "prometheus-adapter" in msg
    up = {"status": {"conditions": [{"type": "Available", "status": "True"}]}}
    assert ms.check_existing(_FakeClient(up)) is None
