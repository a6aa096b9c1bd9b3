"""Whether an operator is on a cluster servegate did not make is read from the API: its CRDs
served, and its chart's Deployment not failing where it can be seen. An operator run some
other way (the local cluster's host processes, another chart's labels) is not declared
missing: the checks' reconcile deadlines judge it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from servegate.cluster.addons.kserve import ADDON as KSERVE
from servegate.cluster.addons.kuberay import ADDON as KUBERAY


class FakeExt:
    served: ClassVar[set[str]] = set()

    def __init__(self, _api_client: Any) -> None:
        pass

    def read_custom_resource_definition(self, name: str) -> object:
        if name not in self.served:
            raise ApiException(status=404, reason="Not Found")
        return object()


def _client(deployments: list[int] | None) -> Any:
    """``deployments``: ready replicas of each Deployment found; None: listing forbidden."""

    def listing(label_selector: str) -> Any:
        if deployments is None:
            raise ApiException(status=403, reason="Forbidden")
        items = [SimpleNamespace(status=SimpleNamespace(ready_replicas=r)) for r in deployments]
        return SimpleNamespace(items=items)

    return SimpleNamespace(
        api_client=None, apps=SimpleNamespace(list_deployment_for_all_namespaces=listing)
    )


@pytest.mark.parametrize("addon", [KUBERAY, KSERVE], ids=["kuberay", "kserve"])
def test_operator_discovery(addon: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from servegate.cluster.addons import kserve, kuberay

    crds = {"kuberay": kuberay.CRDS, "kserve": kserve.CRDS}[addon.name]
    monkeypatch.setattr(k8s, "ApiextensionsV1Api", FakeExt)
    FakeExt.served = set()
    missing = addon.check_existing(_client([]))
    assert missing is not None and f"no CRD {crds[0]}" in missing
    FakeExt.served = set(crds[:-1])
    last = addon.check_existing(_client([1]))
    assert last is not None and f"no CRD {crds[-1]}" in last
    FakeExt.served = set(crds)
    assert addon.check_existing(_client([1])) is None  # its chart's Deployment, ready
    assert addon.check_existing(_client([])) is None  # run otherwise: not looked for
    assert addon.check_existing(_client(None)) is None  # may not list cluster-wide
    failing = addon.check_existing(_client([0]))
    assert failing is not None and "not ready" in failing
