"""metrics-server as a host process: the resource metrics API (``kubectl top``, CPU HPAs).

It scrapes ``/metrics/resource`` of the one real kubelet (10.244.0.1:10250; kwok nodes run no
kubelet, so ``--node-selector`` keeps them out of its scrape loop), authenticating with the
cluster's admin client certificate (the kubelet trusts the cluster CA and authorises by
webhook; system:masters passes). The kubelet's serving certificate is self-signed, hence
``--kubelet-insecure-tls``. It serves on the bridge address behind ``v1beta1.metrics.k8s.io``
and trusts the API server's front-proxy client through ``--requestheader-client-ca-file``.

``--metric-resolution=15s`` (upstream default 60s) so a CPU HPA reacts within a CI test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servegate.cluster.addons import portfile
from servegate.cluster.addons.aggregated import Aggregated, existing_available
from servegate.cluster.addons.base import AddonContext, Progress, addon_binary
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.k8s.nodes import REAL_NODE_SELECTOR as REAL_NODES

NAME = "metrics-server"
PACKAGE = "sigs.k8s.io/metrics-server/cmd/metrics-server"
VERSION = "v0.8.0"
PREFERRED_PORT = 4443
METRIC_RESOLUTION = "15s"

API = Aggregated(
    addon=NAME, service="servegate-metrics-server", group="metrics.k8s.io", versions=("v1beta1",)
)


def argv(binary: str, ctx: AddonContext, port: int, cert_dir: str) -> list[str]:
    kc = str(ctx.admin_kubeconfig)
    return [
        binary,
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        f"--requestheader-client-ca-file={ctx.front_proxy_ca}",
        f"--bind-address={ctx.bridge_ip}",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--kubelet-client-certificate={ctx.admin_cert}",
        f"--kubelet-client-key={ctx.admin_key}",
        "--kubelet-insecure-tls",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        f"--node-selector={REAL_NODES}",
        f"--metric-resolution={METRIC_RESOLUTION}",
        "--v=1",
    ]


def _has_node_metrics(body: Any) -> str | None:
    return None if (body or {}).get("items") else "no node metrics yet (first scrape pending)"


@dataclass(frozen=True)
class MetricsServerAddon:
    name: str = NAME
    requires: tuple[str, ...] = ()
    processes: tuple[str, ...] = (NAME,)

    def build(self, progress: Progress) -> None:
        progress(f"add-on {NAME}: go install {PACKAGE}@{VERSION} (cached after the first time)")
        addon_binary(PACKAGE, VERSION, NAME)

    def start(self, ctx: AddonContext, progress: Progress) -> None:
        binary = addon_binary(PACKAGE, VERSION, NAME)
        root = ctx.dir(NAME)
        port = portfile.choose(root, {NAME: (PREFERRED_PORT, (ctx.bridge_ip,))})[NAME]
        (root / "certs").mkdir(exist_ok=True)
        API.serve(ctx, argv(str(binary), ctx, port, str(root / "certs")), port, progress)

    def ready(self, ctx: AddonContext) -> str | None:
        return API.serving(ctx, "/apis/metrics.k8s.io/v1beta1/nodes", _has_node_metrics)

    def teardown(self, node: NodeLayout) -> None:
        """Nothing on the host besides the process; the API objects go with the cluster."""

    def check_existing(self, client: Any) -> str | None:
        return existing_available(
            client,
            "v1beta1.metrics.k8s.io",
            "install metrics-server (kubernetes-sigs/metrics-server)",
        )


ADDON = MetricsServerAddon()
