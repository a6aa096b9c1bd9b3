"""KEDA (operator + metrics API server) as host processes of the local cluster.

Each runs as its own user (servegate:keda-operator, servegate:keda-adapter: a certificate and
RBAC of its own, servegate.cluster.identities). The operator evaluates scalers
(it queries Redis, Prometheus...) and serves the values over mutual-TLS gRPC on loopback;
the metrics server is the ``external.metrics.k8s.io`` extension API server the HPA
controller reads, registered through the aggregation layer (keda_objects). Certificates come
from a CA of KEDA's own in the add-on directory, as KEDA's operator would make for itself.

The operator refuses to start unless all six KEDA CRDs exist; the missing ones (manifests/crds
vendors two) are created from the same module version.

Not run: KEDA's admission webhooks (they only validate ScaledObjects; registering a
webhook that points at a host process would make every apply fail while it is down).

Only ScaledObjects labelled ``servegate.io/keda=enabled`` are acted on: the cluster is
shared, and reference units that carry a ScaledObject (vllm-deployment's sim overlay) must
not be autoscaled in tests that did not ask for it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from servegate.cluster.addons import hostguard, keda_build, keda_objects, portfile
from servegate.cluster.addons.aggregated import wait_https
from servegate.cluster.addons.base import AddonContext, HostAddon, Progress
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.cluster.pki import Pki
from servegate.errors import UserError

NAME = "keda"
LOOPBACK = "127.0.0.1"
ANYWHERE = "0.0.0.0"  # only to check a port is free: see the adapter's metrics port below
WATCH_LABEL = ("servegate.io/keda", "enabled")
SCALEDOBJECT_CRD = "scaledobjects.keda.sh"


def certificates(root: Path, bridge_ip: str) -> Path:
    """``certs/`` with ca.crt, tls.crt, tls.key: what KEDA's gRPC mTLS and the metrics
    server's HTTPS expect. One leaf serves both ends and the aggregator's connection."""
    pki = Pki(root / "certs")
    pki.ensure_ca()
    dns = (
        "localhost",
        f"{keda_objects.SERVICE}.{keda_objects.NAMESPACE}.svc",
        f"{keda_objects.SERVICE}.{keda_objects.NAMESPACE}.svc.cluster.local",
    )
    pki.issue("tls", "keda", client=True, server=True, dns=dns, ips=(LOOPBACK, bridge_ip))
    return pki.root


def operator_argv(binary: Path, certs: Path, ports: dict[str, int]) -> list[str]:
    return [
        str(binary),
        f"--metrics-bind-address={LOOPBACK}:{ports['operator-metrics']}",
        f"--health-probe-bind-address={LOOPBACK}:{ports['operator-health']}",
        f"--metrics-service-bind-address={LOOPBACK}:{ports['grpc']}",
        f"--cert-dir={certs}",
        # Extra CAs scalers may trust (none here; an empty directory keeps KEDA quiet).
        f"--ca-dir={certs.parent / 'custom-ca'}",
        "--leader-elect=false",
        "--enable-cert-rotation=false",
        "--zap-encoder=console",
    ]


def adapter_argv(
    binary: Path, certs: Path, ports: dict[str, int], ctx: AddonContext, kubeconfig: Path
) -> list[str]:
    return [
        str(binary),
        f"--bind-address={ctx.bridge_ip}",
        f"--secure-port={ports['adapter']}",
        f"--tls-cert-file={certs / 'tls.crt'}",
        f"--tls-private-key-file={certs / 'tls.key'}",
        f"--cert-dir={certs}",
        f"--metrics-service-address={LOOPBACK}:{ports['grpc']}",
        # KEDA binds this /metrics server to every interface (":<port>"), with no flag for
        # the host; the port is chosen free on all of them. See docs/suites-autoscaling-keda.md.
        f"--port={ports['adapter-metrics']}",
        f"--lister-kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--requestheader-client-ca-file={ctx.front_proxy_ca}",
        "--zap-encoder=console",
    ]


def environment(kubeconfig: Path) -> dict[str, str]:
    return {
        "KUBECONFIG": str(kubeconfig),
        "WATCH_NAMESPACE": "",  # every namespace
        "WATCH_LABEL_SELECTOR": "=".join(WATCH_LABEL),
        "POD_NAMESPACE": keda_objects.NAMESPACE,
        "KEDA_CLUSTER_OBJECT_NAMESPACE": keda_objects.NAMESPACE,
    }


def _http_ok(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as resp:
            return None if resp.status == 200 else f"{url}: HTTP {resp.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"


class KedaAddon(HostAddon):
    def build(self, progress: Progress) -> None:
        keda_build.build(progress)

    def start(self, ctx: AddonContext, progress: Progress) -> None:
        bins = keda_build.build(progress)
        root = ctx.dir(NAME)
        certs = certificates(root, ctx.bridge_ip)
        (root / "custom-ca").mkdir(exist_ok=True)
        ports = portfile.choose(
            root,
            {
                "grpc": (9666, (LOOPBACK,)),
                "operator-metrics": (8080, (LOOPBACK,)),
                "operator-health": (8081, (LOOPBACK,)),
                "adapter": (6443, (ctx.bridge_ip,)),
                "adapter-metrics": (9022, (ANYWHERE,)),
            },
        )
        try:
            created = keda_objects.install_crds(ctx.api, keda_build.crd_files())
        finally:
            ctx.api.close()
        if created:
            progress(f"add-on keda: created CRDs {', '.join(created)}")
        # KEDA's metrics server binds its own /metrics on every interface (no flag for the
        # host): that port answers on loopback only.
        hostguard.guard(NAME, ports["adapter-metrics"])
        op, ad = ctx.identity("keda-operator"), ctx.identity("keda-adapter")
        operator = operator_argv(bins["keda-operator"], certs, ports)
        ctx.sup.start("keda-operator", operator, environment(op.kubeconfig))
        adapter = adapter_argv(bins["keda-adapter"], certs, ports, ctx, ad.kubeconfig)
        ctx.sup.start("keda-adapter", adapter, environment(ad.kubeconfig))
        # Registered only once it serves: an unavailable APIService breaks API discovery
        # (kubectl warnings, namespaces stuck terminating) for every user of the cluster.
        try:
            wait_https(
                f"https://{ctx.bridge_ip}:{ports['adapter']}/readyz",
                timeout_s=180.0,
                alive=lambda: all(ctx.sup.alive(p) for p in self.processes),
            )
        except UserError as exc:
            logs = ", ".join(str(ctx.sup.log_path(p)) for p in self.processes)
            raise UserError(f"KEDA's metrics server: {exc} (logs: {logs})") from None
        ca_pem = (certs / "ca.crt").read_bytes()
        try:
            keda_objects.apply(
                ctx.api, keda_objects.objects(ctx.bridge_ip, ports["adapter"], ca_pem)
            )
        finally:
            ctx.api.close()
        progress(
            f"add-on keda: metrics server {ctx.bridge_ip}:{ports['adapter']}, "
            f"operator gRPC {LOOPBACK}:{ports['grpc']}"
        )

    def ready(self, ctx: AddonContext) -> str | None:
        for proc in self.processes:
            if not ctx.sup.alive(proc):
                return f"{proc} is not running"
        health = portfile.read(ctx.dir(NAME), "operator-health")
        if health is None:
            return "no ports recorded"
        reason = _http_ok(f"http://{LOOPBACK}:{health}/readyz")
        if reason is not None:
            return f"keda-operator not ready ({reason})"
        try:
            return keda_objects.available(keda_objects.get(ctx.api, "APIService"))
        finally:
            ctx.api.close()  # the context may be dropped unclosed: leave no socket behind

    def teardown(self, node: NodeLayout) -> None:
        """The API objects go with the cluster; certificates with the node's directory."""
        hostguard.unguard(NAME)

    def check_existing(self, client: Any) -> str | None:
        from kubernetes import client as k8s
        from kubernetes.client.exceptions import ApiException

        try:
            k8s.ApiextensionsV1Api(client.api_client).read_custom_resource_definition(
                SCALEDOBJECT_CRD
            )
        except ApiException as exc:
            if exc.status == 404:
                return f"KEDA is not installed (no CRD {SCALEDOBJECT_CRD}): install KEDA"
            raise UserError(f"reading CRD {SCALEDOBJECT_CRD}: HTTP {exc.status}") from None
        try:
            found = k8s.ApiregistrationV1Api(client.api_client).read_api_service(
                keda_objects.APISERVICE
            )
        except ApiException as exc:
            if exc.status == 404:
                return f"no {keda_objects.APISERVICE}: KEDA's metrics server is not installed"
            raise UserError(
                f"reading APIService {keda_objects.APISERVICE}: HTTP {exc.status}"
            ) from None
        return keda_objects.available(client.api_client.sanitize_for_serialization(found))


ADDON = KedaAddon(NAME, ("keda-operator", "keda-adapter"))
