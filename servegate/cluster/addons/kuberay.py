"""The KubeRay operator as a host process: RayService -> RayCluster -> head and worker pods.

Built with ``go install`` from the Go module proxy at the version of the vendored ray.io CRDs
(manifests/crds/SOURCES.yaml). It runs as servegate:kuberay-operator (its own certificate and
RBAC, servegate.cluster.identities), leader election off,
webhooks off (KubeRay enables them only with ENABLE_WEBHOOKS=true) and its metrics and
health probes on loopback. It reconciles every namespace; only servegate's suites create Ray
objects on the local cluster.

On the local cluster the reconcile check pins the Ray pods to kwok nodes (the object graph
only, in seconds); the Ray Serve checks run them on the real node with servegate's Ray image
(servegate.checks.operators.rayserve), where Ray and Serve run for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from servegate.cluster.addons import portfile
from servegate.cluster.addons.base import AddonContext, HostAddon, Progress, addon_binary
from servegate.cluster.addons.operators import (
    LOOPBACK,
    manager_ready,
    operator_installed,
    require_crds,
)
from servegate.cluster.node.layout import Layout as NodeLayout

NAME = "kuberay"
PROCESS = "kuberay-operator"
PACKAGE = "github.com/ray-project/kuberay/ray-operator"
VERSION = "v1.5.0"  # matches manifests/crds/ray.io_*.yaml
CRDS = ("rayclusters.ray.io", "rayservices.ray.io", "rayjobs.ray.io")  # it watches all three
PREFERRED_PORTS = {"metrics": 18380, "probe": 18381}


def argv(binary: str, kubeconfig: Path, metrics_port: int, probe_port: int) -> list[str]:
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        "--enable-leader-election=false",
        f"--metrics-addr={LOOPBACK}:{metrics_port}",
        f"--health-probe-bind-address={LOOPBACK}:{probe_port}",
        "--log-stdout-encoder=console",
        "--reconcile-concurrency=2",
        # A host process cannot resolve the head Service's cluster DNS name: reach the
        # dashboard (Serve's REST API) through the API server's services/proxy instead.
        "--use-kubernetes-proxy",
    ]


class KubeRayAddon(HostAddon):
    def build(self, progress: Progress) -> None:
        progress(f"add-on {NAME}: go install {PACKAGE}@{VERSION} (cold: ~10 min on 2 busy cores)")
        addon_binary(PACKAGE, VERSION, PROCESS)

    def start(self, ctx: AddonContext, progress: Progress) -> None:
        require_crds(ctx.api, NAME, CRDS)
        binary = addon_binary(PACKAGE, VERSION, PROCESS)
        wanted = {k: (p, (LOOPBACK,)) for k, p in PREFERRED_PORTS.items()}
        ports = portfile.choose(ctx.dir(NAME), wanted)
        creds = ctx.identity(PROCESS)
        args = argv(str(binary), creds.kubeconfig, ports["metrics"], ports["probe"])
        ctx.sup.start(PROCESS, args, env={"ENABLE_WEBHOOKS": "false"}, nice=5)
        progress(f"add-on {NAME}: operator started (probes on {LOOPBACK}:{ports['probe']})")

    def ready(self, ctx: AddonContext) -> str | None:
        return manager_ready(ctx, NAME, PROCESS)

    def teardown(self, node: NodeLayout) -> None:
        """Nothing on the host besides the process; Ray objects go with their namespaces."""

    def check_existing(self, client: Any) -> str | None:
        return operator_installed(
            client,
            CRDS,
            "app.kubernetes.io/name=kuberay-operator",
            "the KubeRay operator",
            "install it (helm chart kuberay/kuberay-operator v1.5.0)",
        )


ADDON = KubeRayAddon(NAME, (PROCESS,))
