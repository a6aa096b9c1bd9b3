"""KServe's controller manager as a host process, in RawDeployment (Standard) mode only.

No Knative, no Istio, no Ingress: ``inferenceservice-config`` in the add-on's namespace says
``defaultDeploymentMode: RawDeployment`` and disables Ingress and VirtualService creation, so
an InferenceService becomes a Deployment, a Service and (autoscalerClass keda) a KEDA
ScaledObject. Leader election is off; metrics and probes are on loopback.

Webhooks: the manager insists on running its webhook server (its readiness probe is the
webhook server's), so it gets a certificate signed by a CA of its own, but no
Mutating/ValidatingWebhookConfiguration is registered: the API server never calls it, so
InferenceService defaulting/validation and the pod mutator (storage initializer, agent) are
not exercised. controller-runtime binds that server on every interface with no flag to change
it; an iptables rule drops anything but loopback to its port (removed by ``teardown``).
"""

from __future__ import annotations

import json
from typing import Any

from servegate.cluster.addons import hostguard, kserve_build, portfile
from servegate.cluster.addons.base import AddonContext, HostAddon, Progress
from servegate.cluster.addons.operators import (
    LOOPBACK,
    manager_ready,
    operator_installed,
    require_crds,
)
from servegate.cluster.api import ApiError
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.cluster.pki import Pki

NAME = "kserve"
PROCESS = "kserve-manager"
NAMESPACE = "servegate-kserve"
CONFIGMAP = "inferenceservice-config"
CRDS = (
    "inferenceservices.serving.kserve.io",
    "servingruntimes.serving.kserve.io",
    "clusterservingruntimes.serving.kserve.io",
    # not used by servegate, but the manager waits for their informers and exits without them
    "inferencegraphs.serving.kserve.io",
    "trainedmodels.serving.kserve.io",
)
PREFERRED_PORTS = {"metrics": 18480, "probe": 18481, "webhook": 18482}
LABELS = {"app.kubernetes.io/managed-by": "servegate", "servegate.io/addon": NAME}


def config_data() -> dict[str, str]:
    """``inferenceservice-config`` for RawDeployment without ingress (JSON per key)."""
    sections: dict[str, Any] = {
        "deploy": {"defaultDeploymentMode": "RawDeployment"},
        "ingress": {
            "ingressGateway": "none/none",  # required by the parser, unused with no Istio
            "ingressDomain": "svc.cluster.local",
            # <name>.<namespace>.svc.cluster.local, the Service's DNS name: a "name-namespace"
            # label would pass 63 characters with servegate's long run namespaces.
            "domainTemplate": "{{ .Name }}.{{ .Namespace }}.{{ .IngressDomain }}",
            "urlScheme": "http",
            "disableIstioVirtualHost": True,
            "disableIngressCreation": True,
        },
        # Parsed on every reconcile even when no storage URI is used: every quantity is needed.
        "storageInitializer": {
            "image": "servegate.local/unused:0",
            "memoryRequest": "100Mi",
            "memoryLimit": "1Gi",
            "cpuRequest": "100m",
            "cpuLimit": "1",
            "enableModelcar": False,
            "cpuModelcar": "10m",
            "memoryModelcar": "15Mi",
        },
        "credentials": {"storageSpecSecretName": "storage-config"},
        "security": {"autoMountServiceAccountToken": True},
        "metricsAggregator": {"enableMetricAggregation": "false"},
        "inferenceService": {
            "resource": {
                "cpuRequest": "250m",
                "cpuLimit": "1",
                "memoryRequest": "256Mi",
                "memoryLimit": "512Mi",
            }
        },
        "localModel": {"enabled": False},
    }
    return {k: json.dumps(v) for k, v in sections.items()}


def objects() -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object) the manager needs before it starts."""
    ns: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace"}
    ns["metadata"] = {"name": NAMESPACE, "labels": LABELS}
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "data": config_data()}
    cm["metadata"] = {"name": CONFIGMAP, "namespace": NAMESPACE, "labels": LABELS}
    return [("/api/v1/namespaces", ns), (f"/api/v1/namespaces/{NAMESPACE}/configmaps", cm)]


def argv(binary: str, ports: dict[str, int]) -> list[str]:
    return [
        binary,
        "--leader-elect=false",
        f"--metrics-addr={LOOPBACK}:{ports['metrics']}",
        f"--health-probe-addr={LOOPBACK}:{ports['probe']}",
        f"--webhook-port={ports['webhook']}",
        "--zap-log-level=info",
    ]


def _configmap_missing(ctx: AddonContext) -> str | None:
    try:
        ctx.api.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}")
    except ApiError as exc:
        return f"ConfigMap {NAMESPACE}/{CONFIGMAP}: {exc}"
    return None


class KServeAddon(HostAddon):
    def build(self, progress: Progress) -> None:
        kserve_build.build(progress)

    def start(self, ctx: AddonContext, progress: Progress) -> None:
        require_crds(ctx.api, NAME, CRDS)
        binary = kserve_build.build(progress)
        for path, obj in objects():
            if ctx.api.create(path, obj) is None and obj["kind"] == "ConfigMap":
                # Already there: ours alone, so brought up to date (the manager reads it).
                ctx.api.request("PUT", f"{path}/{obj['metadata']['name']}", obj)
        root = ctx.dir(NAME)
        wanted = {k: (p, (LOOPBACK, "0.0.0.0")) for k, p in PREFERRED_PORTS.items()}
        ports = portfile.choose(root, wanted)
        # controller-runtime reads tls.crt/tls.key from $TMPDIR/k8s-webhook-server/serving-certs.
        certs = root / "tmp" / "k8s-webhook-server" / "serving-certs"
        Pki(certs, "webhook-ca").issue("tls", PROCESS, server=True, ips=(LOOPBACK,))
        hostguard.guard(NAME, ports["webhook"])
        env = {"POD_NAMESPACE": NAMESPACE, "TMPDIR": str(root / "tmp")}
        env["KUBECONFIG"] = str(ctx.identity(PROCESS).kubeconfig)
        ctx.sup.start(PROCESS, argv(str(binary), ports), env=env, nice=5)
        progress(f"add-on {NAME}: manager started (probes on {LOOPBACK}:{ports['probe']})")

    def ready(self, ctx: AddonContext) -> str | None:
        return manager_ready(ctx, NAME, PROCESS, also=_configmap_missing)

    def teardown(self, node: NodeLayout) -> None:
        """Remove the webhook port's firewall rule (the namespace goes with the cluster)."""
        hostguard.unguard(NAME)

    def check_existing(self, client: Any) -> str | None:
        return operator_installed(
            client,
            CRDS,
            "control-plane=kserve-controller-manager",
            "the KServe controller manager",
            "install KServe v0.16.0 in RawDeployment mode (kserve helm charts)",
        )


ADDON = KServeAddon(NAME, (PROCESS,))
