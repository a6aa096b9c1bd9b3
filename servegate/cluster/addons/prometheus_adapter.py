"""prometheus-adapter as a host process: vLLM's queue gauge as a per-pod custom metric.

It reads the node's Prometheus (which scrapes pods annotated ``prometheus.io/scrape``, labelled
``namespace`` and ``pod``) and serves ``custom.metrics.k8s.io`` (v1beta1 and v1beta2) behind
the aggregation layer, so an HPA can target ``vllm_num_requests_waiting`` per pod. It does NOT
register ``external.metrics.k8s.io``: KEDA's metrics server owns that group.

``--metrics-relist-interval=15s`` (upstream default 10m) so a freshly deployed pod's series
becomes a metric within a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from servegate.cluster.addons import portfile, wrapbuild
from servegate.cluster.addons.aggregated import Aggregated, existing_available
from servegate.cluster.addons.base import AddonContext, Progress, addon_cache
from servegate.cluster.node.layout import Layout as NodeLayout

NAME = "prometheus-adapter"
MODULE = "sigs.k8s.io/prometheus-adapter"
PACKAGE = f"{MODULE}/cmd/adapter"
VERSION = "v0.12.0"
PREFERRED_PORT = 6443 + 100  # 6543: clear of the API servers' usual ports
RELIST = "15s"

API = Aggregated(
    addon=NAME,
    service="servegate-prometheus-adapter",
    group="custom.metrics.k8s.io",
    versions=("v1beta1", "v1beta2"),
)


def adapter_binary(progress: Progress = lambda _m: None) -> Path:
    """A cached static build of the adapter.

    Built in a wrapper module (servegate.cluster.addons.wrapbuild): ``go install pkg@version``
    looks up the module's newest version for deprecation notices, and the proxy refuses to
    list this module's versions."""
    built = wrapbuild.build(
        NAME, MODULE, VERSION, {NAME: "cmd/adapter"}, addon_cache() / f"{NAME}-{VERSION}", progress
    )
    return built[NAME]


def rules() -> dict[str, Any]:
    """vLLM's scheduler gauges per pod, ``vllm:X`` -> ``vllm_X`` (e.g. num_requests_waiting).

    Prometheus names with a colon are not valid metric names of the custom metrics API."""
    return {
        "rules": [
            {
                "seriesQuery": (
                    '{__name__=~"vllm:num_requests_(waiting|running)",namespace!="",pod!=""}'
                ),
                "resources": {
                    "overrides": {
                        "namespace": {"resource": "namespace"},
                        "pod": {"resource": "pod"},
                    }
                },
                "name": {"matches": "^vllm:(.*)$", "as": "vllm_${1}"},
                "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
            }
        ]
    }


def argv(binary: str, ctx: AddonContext, port: int, config: str, cert_dir: str) -> list[str]:
    kc = str(ctx.admin_kubeconfig)
    return [
        binary,
        f"--lister-kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        f"--requestheader-client-ca-file={ctx.front_proxy_ca}",
        f"--bind-address={ctx.bridge_ip}",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--prometheus-url={ctx.prometheus_url}",
        f"--metrics-relist-interval={RELIST}",
        f"--config={config}",
        "--v=1",
    ]


@dataclass(frozen=True)
class PrometheusAdapterAddon:
    name: str = NAME
    requires: tuple[str, ...] = ()
    processes: tuple[str, ...] = (NAME,)

    def build(self, progress: Progress) -> None:
        progress(f"add-on {NAME}: go build {PACKAGE}@{VERSION} (cached after the first time)")
        adapter_binary()

    def start(self, ctx: AddonContext, progress: Progress) -> None:
        binary = adapter_binary()
        root = ctx.dir(NAME)
        port = portfile.choose(root, {NAME: (PREFERRED_PORT, (ctx.bridge_ip,))})[NAME]
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump(rules(), sort_keys=False))
        (root / "certs").mkdir(exist_ok=True)
        API.serve(
            ctx, argv(str(binary), ctx, port, str(config), str(root / "certs")), port, progress
        )

    def ready(self, ctx: AddonContext) -> str | None:
        return API.serving(ctx, "/apis/custom.metrics.k8s.io/v1beta1")

    def teardown(self, node: NodeLayout) -> None:
        """Nothing on the host besides the process; the API objects go with the cluster."""

    def check_existing(self, client: Any) -> str | None:
        return existing_available(
            client,
            "v1beta1.custom.metrics.k8s.io",
            "install prometheus-adapter (or another custom metrics server) with a rule for "
            "vllm:num_requests_waiting",
        )


ADDON = PrometheusAdapterAddon()
