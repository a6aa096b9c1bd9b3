"""metrics-server as a host process: the resource metrics API (``kubectl top``, CPU HPAs).

It scrapes ``/metrics/resource`` of the one real kubelet (10.244.0.1:10250; kwok nodes run no
kubelet, so ``--node-selector`` keeps them out of its scrape loop), authenticating with the
add-on's own client certificate (servegate:metrics-server; the kubelet trusts the cluster CA
and authorises by webhook, which allows its ``nodes/metrics`` permission). The kubelet's
serving certificate is self-signed, hence ``--kubelet-insecure-tls``. It serves on the bridge
address behind ``v1beta1.metrics.k8s.io`` and trusts the API server's front-proxy client
through ``--requestheader-client-ca-file``.

``--metric-resolution=15s`` (upstream default 60s) so a CPU HPA reacts within a CI test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from servegate.cluster.addons.aggregated import Aggregated, ApiServerAddon, serving_flags
from servegate.cluster.addons.base import AddonContext, Credentials, addon_binary
from servegate.k8s.nodes import REAL_NODE_SELECTOR as REAL_NODES

NAME = "metrics-server"
PACKAGE = "sigs.k8s.io/metrics-server/cmd/metrics-server"
VERSION = "v0.8.0"
PREFERRED_PORT = 4443
METRIC_RESOLUTION = "15s"

API = Aggregated(
    addon=NAME, service="servegate-metrics-server", group="metrics.k8s.io", versions=("v1beta1",)
)


def argv(
    binary: str, ctx: AddonContext, port: int, cert_dir: Path, creds: Credentials
) -> list[str]:
    return [
        binary,
        f"--kubeconfig={creds.kubeconfig}",
        *serving_flags(ctx, port, cert_dir, creds.kubeconfig),
        f"--kubelet-client-certificate={creds.cert}",
        f"--kubelet-client-key={creds.key}",
        "--kubelet-insecure-tls",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        f"--node-selector={REAL_NODES}",
        f"--metric-resolution={METRIC_RESOLUTION}",
        "--v=1",
    ]


def _has_node_metrics(body: Any) -> str | None:
    return None if (body or {}).get("items") else "no node metrics yet (first scrape pending)"


ADDON = ApiServerAddon(
    api=API,
    preferred_port=PREFERRED_PORT,
    build_note=f"go install {PACKAGE}@{VERSION} (cached after the first time)",
    binary=lambda: addon_binary(PACKAGE, VERSION, NAME),
    argv=argv,
    probe="/apis/metrics.k8s.io/v1beta1/nodes",
    check=_has_node_metrics,
    install="install metrics-server (kubernetes-sigs/metrics-server)",
)
