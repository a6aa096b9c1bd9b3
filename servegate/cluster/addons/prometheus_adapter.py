"""prometheus-adapter as a host process: vLLM's queue gauge as a per-pod custom metric.

It reads the node's Prometheus (which scrapes pods annotated ``prometheus.io/scrape``, labelled
``namespace`` and ``pod``) and serves ``custom.metrics.k8s.io`` (v1beta1 and v1beta2) behind
the aggregation layer, so an HPA can target ``vllm_num_requests_waiting`` per pod. It does NOT
register ``external.metrics.k8s.io``: KEDA's metrics server owns that group.

``--metrics-relist-interval=15s`` (upstream default 10m) so a freshly deployed pod's series
becomes a metric within a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from servegate.cluster.addons import wrapbuild
from servegate.cluster.addons.aggregated import Aggregated, ApiServerAddon, serving_flags
from servegate.cluster.addons.base import AddonContext, Credentials, Progress, addon_cache

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
    """vLLM's scheduler gauges per pod, ``vllm:X`` -> ``vllm_X`` (e.g. num_requests_waiting),
    and llama.cpp's (the engine overlay), ``llamacpp:requests_deferred`` ->
    ``llamacpp_requests_deferred``.

    Prometheus names with a colon are not valid metric names of the custom metrics API."""
    per_pod = {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}
    query = "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"
    return {
        "rules": [
            {
                "seriesQuery": (
                    '{__name__=~"vllm:num_requests_(waiting|running)",namespace!="",pod!=""}'
                ),
                "resources": per_pod,
                "name": {"matches": "^vllm:(.*)$", "as": "vllm_${1}"},
                "metricsQuery": query,
            },
            {
                "seriesQuery": (
                    '{__name__=~"llamacpp:requests_(deferred|processing)",namespace!="",pod!=""}'
                ),
                "resources": per_pod,
                "name": {"matches": "^llamacpp:(.*)$", "as": "llamacpp_${1}"},
                "metricsQuery": query,
            },
        ]
    }


def argv(
    binary: str, ctx: AddonContext, port: int, config: Path, cert_dir: Path, kubeconfig: Path
) -> list[str]:
    return [
        binary,
        f"--lister-kubeconfig={kubeconfig}",
        *serving_flags(ctx, port, cert_dir, kubeconfig),
        f"--prometheus-url={ctx.prometheus_url}",
        f"--metrics-relist-interval={RELIST}",
        f"--config={config}",
        "--v=1",
    ]


def _argv(
    binary: str, ctx: AddonContext, port: int, cert_dir: Path, creds: Credentials
) -> list[str]:
    config = ctx.dir(NAME) / "config.yaml"
    config.write_text(yaml.safe_dump(rules(), sort_keys=False))
    return argv(binary, ctx, port, config, cert_dir, creds.kubeconfig)


ADDON = ApiServerAddon(
    api=API,
    preferred_port=PREFERRED_PORT,
    build_note=f"go build {PACKAGE}@{VERSION} (cached after the first time)",
    binary=adapter_binary,
    argv=_argv,
    probe="/apis/custom.metrics.k8s.io/v1beta1",
    install=(
        "install prometheus-adapter (or another custom metrics server) with a rule for "
        "vllm:num_requests_waiting"
    ),
)
