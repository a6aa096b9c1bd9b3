"""Putting a host-process extension API server behind the API server's aggregation layer.

metrics-server and prometheus-adapter run on the host, on the node's bridge address, so their
Service has no selector: an ``Endpoints`` object (read by the 1.32 aggregator's availability
check; marked not to be mirrored) and an ``EndpointSlice`` (what kube-proxy routes by) point
at 10.244.0.1:<port>. Their serving certificates are self-signed, hence
``insecureSkipTLSVerify`` on the APIService: traffic never leaves the host.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.cluster.addons import portfile
from servegate.cluster.addons.base import AddonContext, Credentials, Progress
from servegate.cluster.api import Api, ApiError
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.errors import UserError
from servegate.wait import wait_until

NAMESPACE = "kube-system"
FIELD_MANAGER = "servegate-addons"


@dataclass(frozen=True)
class Aggregated:
    """One extension API server: its Service name and the group versions it serves."""

    addon: str
    service: str
    group: str
    versions: tuple[str, ...]

    @property
    def labels(self) -> dict[str, str]:
        return {"app.kubernetes.io/managed-by": "servegate", "servegate.io/addon": self.addon}

    def apiservice_names(self) -> list[str]:
        return [f"{v}.{self.group}" for v in self.versions]

    def paths(self) -> dict[str, str]:
        ns = f"/namespaces/{NAMESPACE}"
        return {
            "Service": f"/api/v1{ns}/services/{self.service}",
            "Endpoints": f"/api/v1{ns}/endpoints/{self.service}",
            "EndpointSlice": (
                f"/apis/discovery.k8s.io/v1{ns}/endpointslices/{self.service}-servegate"
            ),
        }

    def objects(self, bridge_ip: str, port: int) -> list[dict[str, Any]]:
        """Service, Endpoints, EndpointSlice, then one APIService per version."""
        meta = {"namespace": NAMESPACE, "labels": self.labels}
        out: list[dict[str, Any]] = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": self.service, **meta},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": self.service,
                    "namespace": NAMESPACE,
                    "labels": {**self.labels, "endpointslice.kubernetes.io/skip-mirror": "true"},
                },
                "subsets": [
                    {"addresses": [{"ip": bridge_ip}], "ports": [{"name": "https", "port": port}]}
                ],
            },
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{self.service}-servegate",
                    "namespace": NAMESPACE,
                    "labels": {**self.labels, "kubernetes.io/service-name": self.service},
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [bridge_ip], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            },
        ]
        for version in self.versions:
            out.append(
                {
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "kind": "APIService",
                    "metadata": {"name": f"{version}.{self.group}", "labels": self.labels},
                    "spec": {
                        "group": self.group,
                        "version": version,
                        "service": {"name": self.service, "namespace": NAMESPACE, "port": 443},
                        "insecureSkipTLSVerify": True,
                        "groupPriorityMinimum": 100,
                        "versionPriority": 100,
                    },
                }
            )
        return out

    def _path(self, obj: dict[str, Any]) -> str:
        if obj["kind"] == "APIService":
            return f"/apis/apiregistration.k8s.io/v1/apiservices/{obj['metadata']['name']}"
        return self.paths()[obj["kind"]]

    def apply(self, api: Api, bridge_ip: str, port: int) -> None:
        """Server-side apply the objects (create or update: the port may change per start).

        Refuses to take over an APIService that another server (or the API server) owns."""
        for name in self.apiservice_names():
            conflict = self.owner_conflict(get_apiservice(api, name), name)
            if conflict:
                raise UserError(conflict)
        for obj in self.objects(bridge_ip, port):
            path = f"{self._path(obj)}?fieldManager={FIELD_MANAGER}&force=true"
            try:
                api.request("PATCH", path, obj, content_type="application/apply-patch+yaml")
            except ApiError as exc:
                raise UserError(f"registering {self.addon}: {obj['kind']}: {exc}") from None

    def owner_conflict(self, existing: dict[str, Any] | None, name: str) -> str | None:
        """Why an existing APIService must not be taken over, or None."""
        if existing is None:
            return None
        svc = (existing.get("spec") or {}).get("service") or {}
        if svc.get("name") == self.service and svc.get("namespace") == NAMESPACE:
            return None
        where = f"{svc.get('namespace')}/{svc.get('name')}" if svc else "the API server itself"
        return f"APIService {name} is already served by {where}: {self.addon} will not take it over"

    def available(self, api: Api) -> str | None:
        """None if every APIService reports Available=True, else the aggregator's reason."""
        for name in self.apiservice_names():
            reason = available(get_apiservice(api, name), name)
            if reason is not None:
                return reason
        return None

    def serve(self, ctx: AddonContext, argv: list[str], port: int, progress: Progress) -> None:
        """Start the server and register it, but only once it serves: an unavailable
        APIService makes API discovery fail for every client of the cluster."""
        ctx.sup.start(self.addon, argv, nice=5)
        wait_https(f"https://{ctx.bridge_ip}:{port}/livez", 60.0, lambda: ctx.sup.alive(self.addon))
        try:
            self.apply(ctx.api, ctx.bridge_ip, port)
        finally:
            ctx.api.close()
        progress(f"add-on {self.addon}: serving on {ctx.bridge_ip}:{port}")

    def serving(
        self, ctx: AddonContext, probe: str, check: Callable[[Any], str | None] = lambda _b: None
    ) -> str | None:
        """None once the process runs, its APIServices are Available and ``probe`` (a path
        of the group) answers with a body ``check`` accepts; else what is missing."""
        try:
            if not ctx.sup.alive(self.addon):
                return f"{self.addon} is not running"
            reason = self.available(ctx.api)
            if reason is not None:
                return reason
            try:
                body = ctx.api.get(probe)
            except (ApiError, UserError) as exc:
                return f"{self.group} not answering: {exc}"
            return check(body)
        finally:
            ctx.api.close()  # callers do not close the context's client: leave no socket open


def serving_flags(ctx: AddonContext, port: int, cert_dir: Path, kubeconfig: Path) -> list[str]:
    """Flags of an extension API server on the bridge address: callers are authenticated and
    authorised through the API server (the server's own identity, bound to
    system:auth-delegator), which reaches it as front proxy."""
    kc = str(kubeconfig)
    return [
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        f"--requestheader-client-ca-file={ctx.front_proxy_ca}",
        f"--bind-address={ctx.bridge_ip}",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
    ]


@dataclass(frozen=True)
class ApiServerAddon:
    """An add-on that is one extension API server on the host (metrics-server,
    prometheus-adapter): built once, started on the bridge behind the aggregation layer."""

    api: Aggregated
    preferred_port: int
    build_note: str  # what building announces, after "add-on <name>: "
    binary: Callable[[], Path]
    argv: Callable[[str, AddonContext, int, Path, Credentials], list[str]]
    """binary, ctx, port, cert dir, the server's own credentials -> its command line"""
    probe: str  # a path of the group that answers once it serves
    install: str  # what to install on a cluster servegate did not make
    check: Callable[[Any], str | None] = lambda _body: None  # accepts the probe's body
    requires: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.api.addon

    @property
    def processes(self) -> tuple[str, ...]:
        return (self.api.addon,)

    def build(self, progress: Progress) -> None:
        progress(f"add-on {self.name}: {self.build_note}")
        self.binary()

    def start(self, ctx: AddonContext, progress: Progress) -> None:
        """Pick its port on the bridge address, give it a certificate directory, and
        :meth:`Aggregated.serve` it."""
        binary = str(self.binary())
        root = ctx.dir(self.name)
        wanted = {self.name: (self.preferred_port, (ctx.bridge_ip,))}
        port = portfile.choose(root, wanted)[self.name]
        (root / "certs").mkdir(exist_ok=True)
        creds = ctx.identity(self.name)
        argv = self.argv(binary, ctx, port, root / "certs", creds)
        self.api.serve(ctx, argv, port, progress)

    def ready(self, ctx: AddonContext) -> str | None:
        return self.api.serving(ctx, self.probe, self.check)

    def teardown(self, node: NodeLayout) -> None:
        """Nothing on the host besides the process; the API objects go with the cluster."""

    def check_existing(self, client: Any) -> str | None:
        return existing_available(client, self.api.apiservice_names()[0], self.install)


def get_apiservice(api: Api, name: str) -> dict[str, Any] | None:
    try:
        found = api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise UserError(f"reading APIService {name}: {exc}") from None
    return found if isinstance(found, dict) else None


def available(apiservice: dict[str, Any] | None, name: str) -> str | None:
    if apiservice is None:
        return f"APIService {name} not registered"
    for cond in (apiservice.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Available":
            if cond.get("status") == "True":
                return None
            return f"APIService {name}: {cond.get('reason')}: {cond.get('message', '')}"
    return f"APIService {name}: no Available condition yet"


def existing_available(client: Any, name: str, install: str) -> str | None:
    """check_existing on a cluster servegate did not make: is APIService ``name`` Available?"""
    try:
        api = client.dynamic.resources.get(
            api_version="apiregistration.k8s.io/v1", kind="APIService"
        )
        obj = api.get(name=name).to_dict()
    except Exception as exc:  # NotFound, Forbidden, unreachable: all mean "not usable here"
        return f"APIService {name} not found or not readable ({type(exc).__name__}): {install}"
    reason = available(obj, name)
    return None if reason is None else f"{reason}: {install}"


def wait_https(url: str, timeout_s: float, alive: Any = None) -> None:
    """Wait until ``url`` answers (any HTTP status) over TLS, without verifying the cert.

    ``alive()`` returning False ends the wait early (the process died)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    last = "no answer"

    def answers() -> bool:
        nonlocal last
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx):
                return True
        except urllib.error.HTTPError:
            return True  # 401/403 still means it serves
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        if alive is not None and not alive():
            raise UserError(f"{url}: the process exited before serving")
        return False

    if wait_until(answers, timeout_s, interval_s=0.5):
        return
    raise UserError(f"{url} did not answer within {timeout_s:.0f}s ({last})")
