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

# group/version -> kinds, for operators whose CRDs are not part of Kubernetes. Versions are the
# served ones of each operator's CRDs (read from the projects' config/crd directories).
_KNOWN_CRDS: dict[str, tuple[str, ...]] = {
    "monitoring.coreos.com/v1": (
        "ServiceMonitor", "PodMonitor", "PrometheusRule", "Prometheus", "Alertmanager", "Probe",
        "ThanosRuler",
    ),
    "monitoring.coreos.com/v1alpha1": ("AlertmanagerConfig", "ScrapeConfig", "PrometheusAgent"),
    # KServe (kserve/kserve config/crd/full)
    "serving.kserve.io/v1beta1": ("InferenceService",),
    "serving.kserve.io/v1alpha1": (
        "ServingRuntime", "ClusterServingRuntime", "InferenceGraph", "TrainedModel",
        "ClusterStorageContainer", "LocalModelCache", "LocalModelNode", "LocalModelNodeGroup",
        "LocalModelNamespaceCache", "LLMInferenceService", "LLMInferenceServiceConfig",
    ),
    "serving.kserve.io/v1alpha2": ("LLMInferenceService", "LLMInferenceServiceConfig"),
    "serving.knative.dev/v1": ("Service", "Configuration", "Revision", "Route"),
    # KubeRay, and AIBrix (vllm-project/aibrix config/crd)
    "ray.io/v1": ("RayService", "RayCluster", "RayJob"),
    "orchestration.aibrix.ai/v1alpha1": (
        "RayClusterFleet", "RayClusterReplicaSet", "KVCache", "StormService", "RoleSet", "PodSet",
    ),
    "model.aibrix.ai/v1alpha1": ("ModelAdapter", "ModelClaim"),
    "autoscaling.aibrix.ai/v1alpha1": ("PodAutoscaler",),
    # vLLM production-stack operator
    "production-stack.vllm.ai/v1alpha1": (
        "VLLMRuntime", "VLLMRouter", "CacheServer", "LoraAdapter",
    ),
    # KAITO (kaito-project/kaito config/crd/bases)
    "kaito.sh/v1alpha1": ("Workspace", "RAGEngine", "InferenceSet", "ModelMirror",
                          "MultiRoleInference"),
    "kaito.sh/v1beta1": ("Workspace", "RAGEngine", "InferenceSet"),
    # LeaderWorkerSet and DisaggregatedSet (kubernetes-sigs/lws), JobSet
    "leaderworkerset.x-k8s.io/v1": ("LeaderWorkerSet",),
    "disaggregatedset.x-k8s.io/v1": ("DisaggregatedSet", "DisaggregatedSetRoleScaler"),
    "jobset.x-k8s.io/v1alpha2": ("JobSet",),
    # Gateway API and its inference extension; llm-d took over InferenceObjective and
    # InferenceModelRewrite (llm-d/llm-d-router), whose EndpointPickerConfig is a config file.
    "gateway.networking.k8s.io/v1": (
        "Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute", "ReferenceGrant", "BackendTLSPolicy",
        "ListenerSet", "TCPRoute", "TLSRoute", "UDPRoute",
    ),
    "gateway.networking.k8s.io/v1beta1": ("Gateway", "GatewayClass", "HTTPRoute", "ReferenceGrant"),
    "gateway.networking.x-k8s.io/v1alpha1": (
        "XBackendTrafficPolicy", "XListenerSet", "XMesh", "XBackend",
    ),
    "inference.networking.k8s.io/v1": ("InferencePool",),
    "inference.networking.x-k8s.io/v1alpha1": ("InferencePoolImport", "EndpointPickerConfig"),
    "inference.networking.x-k8s.io/v1alpha2": (
        "InferencePool", "InferenceModel", "InferenceObjective", "InferenceModelRewrite",
    ),
    "llm-d.ai/v1alpha1": ("EndpointPickerConfig",),
    "llm-d.ai/v1alpha2": ("InferenceObjective", "InferenceModelRewrite"),
    # Envoy AI Gateway (envoyproxy/ai-gateway manifests/charts)
    "aigateway.envoyproxy.io/v1beta1": (
        "AIGatewayRoute", "AIServiceBackend", "BackendSecurityPolicy", "GatewayConfig", "MCPRoute",
    ),
    "aigateway.envoyproxy.io/v1alpha1": ("QuotaPolicy",),
    # NVIDIA GPU Operator, NIM Operator, Dynamo; Node Feature Discovery; DRA ComputeDomains
    "nvidia.com/v1": ("ClusterPolicy",),
    "nvidia.com/v1alpha1": (
        "NVIDIADriver", "GPUCluster", "DynamoGraphDeployment", "DynamoComponentDeployment",
        "DynamoGraphDeploymentRequest", "DynamoGraphDeploymentScalingAdapter", "DynamoModel",
    ),
    "nvidia.com/v1beta1": ("DynamoGraphDeployment", "DynamoGraphDeploymentRequest"),
    "apps.nvidia.com/v1alpha1": (
        "NIMService", "NIMCache", "NIMPipeline", "NIMBuild", "NemoCustomizer", "NemoDatastore",
        "NemoEntitystore", "NemoEvaluator", "NemoGuardrail",
    ),
    "nfd.k8s-sigs.io/v1alpha1": ("NodeFeature", "NodeFeatureGroup", "NodeFeatureRule"),
    "resource.nvidia.com/v1beta1": ("ComputeDomain", "ComputeDomainClique"),
    # Karpenter (kubernetes-sigs/karpenter, aws/ and Azure/karpenter-provider-*)
    "karpenter.sh/v1": ("NodePool", "NodeClaim"),
    "karpenter.sh/v1alpha1": ("NodeOverlay",),
    "karpenter.k8s.aws/v1": ("EC2NodeClass",),
    "karpenter.azure.com/v1beta1": ("AKSNodeClass",),
    "autoscaling.x-k8s.io/v1beta1": ("CapacityBuffer",),
    # GKE (Google Cloud docs)
    "cloud.google.com/v1": ("ComputeClass", "BackendConfig"),
    "networking.gke.io/v1": (
        "HealthCheckPolicy", "GCPBackendPolicy", "GCPGatewayPolicy", "GCPTrafficExtension",
        "GCPRoutingExtension", "Network", "GKENetworkParamSet", "ManagedCertificate",
    ),
    "networking.gke.io/v1beta1": ("FrontendConfig",),
    "networking.gke.io/v1alpha1": ("FQDNNetworkPolicy",),
    "monitoring.googleapis.com/v1": (
        "PodMonitoring", "ClusterPodMonitoring", "NodeMonitoring", "Rules", "ClusterRules",
        "GlobalRules", "OperatorConfig",
    ),
    "auto.gke.io/v1": ("AllowlistSynchronizer", "WorkloadAllowlist"),
    # Agent sandboxes (kubernetes-sigs/agent-sandbox)
    "agents.x-k8s.io/v1alpha1": ("Sandbox",),
    "agents.x-k8s.io/v1beta1": ("Sandbox", "SandboxWarmPool"),
    "extensions.agents.x-k8s.io/v1alpha1": ("SandboxClaim", "SandboxTemplate", "SandboxWarmPool"),
    "extensions.agents.x-k8s.io/v1beta1": (
        "SandboxClaim", "SandboxTemplate", "SandboxWarmPool", "ManagedSandbox",
    ),
    # Batch schedulers and training operators
    "kueue.x-k8s.io/v1beta1": (
        "ClusterQueue", "LocalQueue", "ResourceFlavor", "Workload", "WorkloadPriorityClass",
        "AdmissionCheck", "ProvisioningRequestConfig", "MultiKueueCluster", "MultiKueueConfig",
        "Topology", "Cohort",
    ),
    "kueue.x-k8s.io/v1beta2": (
        "ClusterQueue", "LocalQueue", "ResourceFlavor", "Workload", "WorkloadPriorityClass",
        "AdmissionCheck", "ProvisioningRequestConfig", "MultiKueueCluster", "MultiKueueConfig",
        "Topology", "Cohort",
    ),
    "batch.volcano.sh/v1alpha1": ("Job",),
    "scheduling.volcano.sh/v1beta1": ("Queue", "PodGroup"),
    "kubeflow.org/v1": ("PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "PaddleJob", "JAXJob"),
    "kubeflow.org/v2beta1": ("MPIJob",),
    "trainer.kubeflow.org/v1alpha1": ("TrainJob", "TrainingRuntime", "ClusterTrainingRuntime"),
    # Autoscaling, secrets, certificates, service mesh, GitOps, OpenShift
    "autoscaling.k8s.io/v1": ("VerticalPodAutoscaler", "VerticalPodAutoscalerCheckpoint"),
    "keda.sh/v1alpha1": (
        "ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication",
    ),
    "http.keda.sh/v1alpha1": ("HTTPScaledObject",),
    "bitnami.com/v1alpha1": ("SealedSecret",),
    "external-secrets.io/v1": ("ExternalSecret", "SecretStore", "ClusterSecretStore"),
    "external-secrets.io/v1beta1": ("ExternalSecret", "SecretStore", "ClusterSecretStore"),
    "cert-manager.io/v1": ("Certificate", "Issuer", "ClusterIssuer", "CertificateRequest"),
    "networking.istio.io/v1": (
        "VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar",
        "WorkloadEntry", "WorkloadGroup",
    ),
    "networking.istio.io/v1beta1": (
        "VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar",
        "WorkloadEntry", "WorkloadGroup", "ProxyConfig",
    ),
    "networking.istio.io/v1alpha3": (
        "VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar",
        "WorkloadEntry", "WorkloadGroup", "EnvoyFilter",
    ),
    "security.istio.io/v1": ("AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication"),
    "security.istio.io/v1beta1": (
        "AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication",
    ),
    "argoproj.io/v1alpha1": ("Application", "ApplicationSet", "AppProject", "Rollout"),
    "route.openshift.io/v1": ("Route",),
    "opentelemetry.io/v1beta1": ("OpenTelemetryCollector",),
}  # fmt: skip
# (apiVersion, kind) still served but deprecated -> the replacement.
_DEPRECATED: dict[tuple[str, str], str] = {
    **{("ray.io/v1alpha1", k): "ray.io/v1" for k in ("RayService", "RayCluster", "RayJob")},
    ("autoscaling.k8s.io/v1beta2", "VerticalPodAutoscaler"): "autoscaling.k8s.io/v1",
    ("inference.networking.x-k8s.io/v1alpha2", "InferencePool"): "inference.networking.k8s.io/v1",
    # Karpenter v1 (2024) replaced v1beta1, which Karpenter 1.1 stopped serving.
    ("karpenter.sh/v1beta1", "NodePool"): "karpenter.sh/v1",
    ("karpenter.sh/v1beta1", "NodeClaim"): "karpenter.sh/v1",
    ("karpenter.k8s.aws/v1beta1", "EC2NodeClass"): "karpenter.k8s.aws/v1",
    ("karpenter.azure.com/v1alpha2", "AKSNodeClass"): "karpenter.azure.com/v1beta1",
    # Marked deprecated in the projects' own CRDs.
    ("kaito.sh/v1alpha1", "RAGEngine"): "kaito.sh/v1beta1",
    **{
        ("aigateway.envoyproxy.io/v1alpha1", k): "aigateway.envoyproxy.io/v1beta1"
        for k in (
            "AIGatewayRoute", "AIServiceBackend", "BackendSecurityPolicy", "GatewayConfig",
            "MCPRoute",
        )
    },
    **{
        ("gateway.networking.k8s.io/v1alpha2", k): "gateway.networking.k8s.io/v1"
        for k in ("TCPRoute", "TLSRoute", "UDPRoute")
    },
    ("gateway.networking.k8s.io/v1alpha3", "TLSRoute"): "gateway.networking.k8s.io/v1",
    ("gateway.networking.k8s.io/v1alpha3", "BackendTLSPolicy"): "gateway.networking.k8s.io/v1",
    ("opentelemetry.io/v1alpha1", "OpenTelemetryCollector"): "opentelemetry.io/v1beta1",
}  # fmt: skip


def group_of(api_version: str) -> str:
    """The API group of an apiVersion (``""`` for the core group's ``v1``)."""
    return api_version.rpartition("/")[0]


@dataclass
class ApiTable:
    """kind -> served apiVersions, and deprecated (apiVersion, kind) -> replacement."""

    served: dict[str, set[str]] = field(default_factory=dict)
    deprecated: dict[tuple[str, str], str] = field(default_factory=dict)
    _groups: set[str] | None = field(default=None, repr=False, compare=False)

    def add(self, api_version: str, kind: str) -> None:
        self.served.setdefault(kind, set()).add(api_version)
        self._groups = None

    def knows_group(self, group: str) -> bool:
        """A group some kind of the table is served in, or a Kubernetes-owned one (*.k8s.io)."""
        if group == "k8s.io" or group.endswith(".k8s.io"):
            return True
        if self._groups is None:
            self._groups = {group_of(v) for versions in self.served.values() for v in versions}
        return group in self._groups

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


def vendored_schemas() -> dict[tuple[str, str, str], object]:
    """(group, version, kind) -> openAPIV3Schema of the CRDs vendored under manifests/crds/."""
    from servegate.errors import UserError
    from servegate.k8s import validate
    from servegate.paths import manifests_root

    try:
        return dict(validate._vendored((manifests_root() / "crds").resolve()))
    except (UserError, OSError):
        return {}


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
