"""Cluster DNS and Prometheus for the local cluster, both as host processes of the node.

CoreDNS is a static binary built from the Go module proxy and listens on the node's bridge
address; the ``kube-dns`` Service (the kubelet's clusterDNS IP) has no selector and one
EndpointSlice pointing at that address, so pods resolve names exactly as on a real
cluster. Prometheus is Debian's, with its own config and data directory, on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from servegate.cluster.node import configs, gobuild
from servegate.cluster.node.layout import Layout, NodeSpec, cache_root
from servegate.errors import UserError
from servegate.procs import ProcessTable

COREDNS_MODULE = "github.com/coredns/coredns"
COREDNS_METRICS_PORT = 9153


def coredns_binary(version: str) -> Path:
    """Cached static CoreDNS at ``version``, built with ``go install`` on first use."""
    out = cache_root() / "node" / "bin" / f"coredns-{version}"
    explicit = os.environ.get("SERVEGATE_BIN_COREDNS")
    if explicit and not out.is_file():
        return Path(explicit)
    return gobuild.go_install(COREDNS_MODULE, version, out)


def kube_dns_objects(spec: NodeSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The selector-less kube-dns Service and its EndpointSlice (the bridge address)."""
    ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    labels = {"k8s-app": "kube-dns", "app.kubernetes.io/managed-by": "servegate"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
        "spec": {
            "clusterIP": spec.cluster_dns,
            "ports": [dict(p, targetPort=53) for p in ports],
        },
    }
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-servegate",
            "namespace": "kube-system",
            "labels": {**labels, "kubernetes.io/service-name": "kube-dns"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [spec.gateway], "conditions": {"ready": True}, "nodeName": spec.name}
        ],
        "ports": ports,
    }
    return service, slice_


def start_coredns(
    spec: NodeSpec, layout: Layout, sup: ProcessTable, kubeconfig: Path, version: str
) -> None:
    binary = coredns_binary(version)
    layout.coredns_config.write_text(configs.corefile(spec, kubeconfig, COREDNS_METRICS_PORT))
    sup.start("coredns", [str(binary), "-conf", str(layout.coredns_config)])


@dataclass(frozen=True)
class ApiAccess:
    """Where the API server is and a client certificate to read pods with."""

    url: str
    ca: Path
    cert: Path
    key: Path


def start_prometheus(
    layout: Layout, sup: ProcessTable, nodetool: Path, access: ApiAccess, port: int
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        raise UserError("prometheus not found: apt-get install prometheus")
    layout.prometheus_data.mkdir(parents=True, exist_ok=True)
    targets = layout.root / "prometheus-pods.json"
    if not targets.exists():
        targets.write_text("[]")
    sup.start(
        "podsd",
        [
            str(nodetool),
            "podsd",
            f"--server={access.url}",
            f"--ca={access.ca}",
            f"--cert={access.cert}",
            f"--key={access.key}",
            f"--out={targets}",
        ],
    )
    layout.prometheus_config.write_text(
        yaml.safe_dump(configs.prometheus_config(targets), sort_keys=False)
    )
    sup.start(
        "prometheus",
        [
            binary,
            f"--config.file={layout.prometheus_config}",
            f"--storage.tsdb.path={layout.prometheus_data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
            "--web.enable-lifecycle",
        ],
        nice=5,
    )
