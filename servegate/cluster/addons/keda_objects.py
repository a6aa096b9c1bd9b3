"""The API objects that put KEDA's metrics server behind the API server's aggregation layer.

The metrics server is a host process on the bridge address, so its Service has no selector:
an ``Endpoints`` object (what the 1.32 aggregator's availability check reads; marked not to be
mirrored) and an ``EndpointSlice`` (what kube-proxy routes by) both point at 10.244.0.1.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from servegate.cluster.addons import aggregated
from servegate.cluster.api import Api, ApiError
from servegate.errors import UserError
from servegate.wait import wait_until

NAMESPACE = "kube-system"
SERVICE = "keda-metrics-apiserver"
APISERVICE = "v1beta1.external.metrics.k8s.io"
FIELD_MANAGER = "servegate-keda"
LABELS = {"app.kubernetes.io/managed-by": "servegate", "servegate.io/addon": "keda"}

_PATHS = {
    "Service": f"/api/v1/namespaces/{NAMESPACE}/services/{SERVICE}",
    "Endpoints": f"/api/v1/namespaces/{NAMESPACE}/endpoints/{SERVICE}",
    "EndpointSlice": (
        f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices/{SERVICE}-servegate"
    ),
    "APIService": f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}",
}


def objects(bridge_ip: str, port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """Service, Endpoints, EndpointSlice and APIService for a metrics server at bridge_ip:port."""
    meta = {"namespace": NAMESPACE, "labels": LABELS}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, **meta},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
    }
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": SERVICE,
            "namespace": NAMESPACE,
            "labels": {**LABELS, "endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{"addresses": [{"ip": bridge_ip}], "ports": [{"name": "https", "port": port}]}],
    }
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{SERVICE}-servegate",
            "namespace": NAMESPACE,
            "labels": {**LABELS, "kubernetes.io/service-name": SERVICE},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [bridge_ip], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    apiservice = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": APISERVICE, "labels": LABELS},
        "spec": {
            "group": "external.metrics.k8s.io",
            "version": "v1beta1",
            "service": {"name": SERVICE, "namespace": NAMESPACE, "port": 443},
            "caBundle": base64.b64encode(ca_pem).decode(),
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }
    return [service, endpoints, slice_, apiservice]


def owner_conflict(existing: dict[str, Any] | None) -> str | None:
    """Why an existing external-metrics APIService must not be taken over, or None."""
    if existing is None:
        return None
    svc = (existing.get("spec") or {}).get("service") or {}
    if svc.get("name") == SERVICE and svc.get("namespace") == NAMESPACE:
        return None
    where = f"{svc.get('namespace')}/{svc.get('name')}" if svc else "a local (built-in) service"
    return (
        f"APIService {APISERVICE} is already served by {where}: only one external metrics "
        "server can be registered (stop the other add-on first)"
    )


def get(api: Api, kind: str) -> dict[str, Any] | None:
    try:
        found = api.get(_PATHS[kind])
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise UserError(
            f"reading {kind} {APISERVICE if kind == 'APIService' else SERVICE}: {exc}"
        ) from None
    return found if isinstance(found, dict) else None


def apply(api: Api, objs: list[dict[str, Any]]) -> None:
    """Server-side apply each object (creates or updates; the port may change per start)."""
    conflict = owner_conflict(get(api, "APIService"))
    if conflict:
        raise UserError(conflict)
    for obj in objs:
        path = f"{_PATHS[obj['kind']]}?fieldManager={FIELD_MANAGER}&force=true"
        try:
            api.request("PATCH", path, obj, content_type="application/apply-patch+yaml")
        except ApiError as exc:
            raise UserError(f"registering KEDA's metrics server: {obj['kind']}: {exc}") from None


CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def install_crds(api: Api, files: list[Path], timeout_s: float = 60.0) -> list[str]:
    """Create the CRDs that are missing (existing ones, e.g. the vendored two, are left as
    they are) and wait until each is established; returns the names created."""
    created: list[str] = []
    names: list[str] = []
    for path in files:
        crd = yaml.safe_load(path.read_text())
        name = str(crd["metadata"]["name"])
        names.append(name)
        try:
            api.request("POST", CRD_PATH, crd)
            created.append(name)
        except ApiError as exc:
            if exc.status != 409:
                raise UserError(f"creating CRD {name} ({path.name}): {exc}") from None

    def pending() -> list[str]:
        return [n for n in names if not _established(api.get(f"{CRD_PATH}/{n}"))]

    if not wait_until(lambda: not pending(), timeout_s, interval_s=0.5):
        raise UserError(f"CRD {pending()[0]} not established after {timeout_s:.0f}s")
    return created


def _established(crd: Any) -> bool:
    conds = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conds)


def available(apiservice: dict[str, Any] | None) -> str | None:
    """None if KEDA's APIService reports Available=True, else the aggregator's reason."""
    return aggregated.available(apiservice, APISERVICE)
