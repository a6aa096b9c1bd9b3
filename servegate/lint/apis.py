"""Which apiVersions serve which kinds: Kubernetes built-ins, common GenAI CRDs, vendored CRDs.

Built-ins come from the OpenAPI definitions that kubernetes-validate ships (so the table moves
with the pinned Kubernetes version); CRDs from a short table of the operators GenAI serving
uses, from manifests/crds/ when present, and from CustomResourceDefinitions in the linted set.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from servegate.lint.model import K8sObject

_K8S_VERSION = "1.37.0"

# group/version -> kinds, for operators whose CRDs are not part of Kubernetes.
_KNOWN_CRDS: dict[str, tuple[str, ...]] = {
    "monitoring.coreos.com/v1": (
        "ServiceMonitor", "PodMonitor", "PrometheusRule", "Prometheus", "Alertmanager", "Probe",
        "ThanosRuler",
    ),
    "monitoring.coreos.com/v1alpha1": ("AlertmanagerConfig", "ScrapeConfig", "PrometheusAgent"),
    "serving.kserve.io/v1beta1": ("InferenceService",),
    "serving.kserve.io/v1alpha1": (
        "ServingRuntime", "ClusterServingRuntime", "InferenceGraph", "TrainedModel",
        "ClusterStorageContainer", "LocalModelCache", "LocalModelNode", "LocalModelNodeGroup",
    ),
    "ray.io/v1": ("RayService", "RayCluster", "RayJob"),
    "autoscaling.k8s.io/v1": ("VerticalPodAutoscaler", "VerticalPodAutoscalerCheckpoint"),
    "keda.sh/v1alpha1": (
        "ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication",
    ),
    "bitnami.com/v1alpha1": ("SealedSecret",),
    "leaderworkerset.x-k8s.io/v1": ("LeaderWorkerSet",),
    "gateway.networking.k8s.io/v1": ("Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute"),
    "gateway.networking.k8s.io/v1beta1": ("ReferenceGrant",),
    "inference.networking.k8s.io/v1": ("InferencePool",),
    "inference.networking.x-k8s.io/v1alpha2": ("InferencePool", "InferenceModel"),
    "cert-manager.io/v1": ("Certificate", "Issuer", "ClusterIssuer", "CertificateRequest"),
    "nvidia.com/v1": ("ClusterPolicy",),
    "nvidia.com/v1alpha1": ("NVIDIADriver",),
    "kueue.x-k8s.io/v1beta1": ("ClusterQueue", "LocalQueue", "ResourceFlavor", "Workload"),
}  # fmt: skip
# (apiVersion, kind) still served but deprecated -> the replacement.
_DEPRECATED: dict[tuple[str, str], str] = {
    **{("ray.io/v1alpha1", k): "ray.io/v1" for k in ("RayService", "RayCluster", "RayJob")},
    ("autoscaling.k8s.io/v1beta2", "VerticalPodAutoscaler"): "autoscaling.k8s.io/v1",
    ("inference.networking.x-k8s.io/v1alpha2", "InferencePool"): "inference.networking.k8s.io/v1",
}


@dataclass
class ApiTable:
    """kind -> served apiVersions, and deprecated (apiVersion, kind) -> replacement."""

    served: dict[str, set[str]] = field(default_factory=dict)
    deprecated: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, api_version: str, kind: str) -> None:
        self.served.setdefault(kind, set()).add(api_version)

    def merged(self, other: ApiTable) -> ApiTable:
        table = ApiTable({k: set(v) for k, v in self.served.items()}, dict(self.deprecated))
        for kind, versions in other.served.items():
            table.served.setdefault(kind, set()).update(versions)
        table.deprecated.update(other.deprecated)
        return table


def _schema_dir() -> str:
    """The kubernetes-validate schema directory for the newest version not above ours."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    wanted = tuple(int(p) for p in _K8S_VERSION.split("."))
    best: tuple[tuple[int, ...], str] | None = None
    for entry in root.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local", entry.name)
        if match:
            version = tuple(int(g) for g in match.groups())
            if version <= wanted and (best is None or version > best[0]):
                best = (version, entry.name)
    if best is None:  # pragma: no cover - the pinned package ships many versions
        raise RuntimeError("kubernetes-validate ships no schema for the pinned version")
    return best[1]


@functools.cache
def builtin_table() -> ApiTable:
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    text = (root / _schema_dir() / "_definitions.json").read_text(encoding="utf-8")
    table = ApiTable()
    for definition in json.loads(text).get("$defs", {}).values():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version = gvk.get("group", ""), gvk["version"]
            table.add(f"{group}/{version}" if group else version, gvk["kind"])
    for group_version, kinds in _KNOWN_CRDS.items():
        for kind in kinds:
            table.add(group_version, kind)
    for (api_version, kind), _ in _DEPRECATED.items():
        table.add(api_version, kind)
    table.deprecated.update(_DEPRECATED)
    return table


def crd_table(objects: Iterable[K8sObject | dict[str, object]]) -> ApiTable:
    """Kinds and versions declared by CustomResourceDefinition objects."""
    table = ApiTable()
    for item in objects:
        doc = item.doc if isinstance(item, K8sObject) else item
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            continue
        group = spec.get("group")
        names, versions = spec.get("names"), spec.get("versions")
        kind = names.get("kind") if isinstance(names, dict) else None
        if (
            not isinstance(group, str)
            or not isinstance(kind, str)
            or not isinstance(versions, list)
        ):
            continue
        for version in versions:
            if not isinstance(version, dict) or not version.get("served", True):
                continue
            api_version = f"{group}/{version.get('name')}"
            table.add(api_version, kind)
            if version.get("deprecated"):
                table.deprecated[(api_version, kind)] = "a non-deprecated version of the CRD"
    return table


@functools.cache
def vendored_table() -> ApiTable:
    """CRDs vendored under manifests/crds/, parsed once per process by servegate.k8s.validate."""
    from servegate.errors import UserError
    from servegate.k8s import validate
    from servegate.paths import manifests_root

    table = ApiTable()
    try:
        # Private, but sharing its cache avoids parsing 4 MB of CRD YAML twice.
        gvks = validate._vendored((manifests_root() / "crds").resolve())
    except (UserError, OSError):
        return table
    for group, version, kind in gvks:
        table.add(f"{group}/{version}" if group else version, kind)
    return table
