"""An identity of its own for every host-run component of the local cluster.

CoreDNS, the node's pod discovery for Prometheus, kube-router, metrics-server,
prometheus-adapter, KEDA and the KServe and KubeRay managers each get a client certificate
signed by the cluster CA, with common name ``servegate:<component>`` and no group (so never
``system:masters``), a kubeconfig of their own, and a ClusterRole (plus Roles where the
access is confined to one namespace) holding only what the component does in this cluster.

The rules are derived from each upstream project's own RBAC manifest at the pinned version,
then cut down to the features run here: no webhooks or certificate rotation, no leader
election, no Knative, Istio, Gateway API, OpenTelemetry or OpenShift objects (their CRDs are
not installed, and the managers only watch them when they are). The API server records every
request these users make (controlplane.AUDIT_POLICY), so a missing permission shows up as a
403 in the audit log, which the e2e test looks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.cluster import kubeconfig
from servegate.cluster.api import Api, ApiError
from servegate.cluster.pki import CertPair, Pki
from servegate.errors import UserError

Rule = dict[str, list[str]]

PREFIX = "servegate:"
FIELD_MANAGER = "servegate-identities"
LABELS = {"app.kubernetes.io/managed-by": "servegate"}
RBAC = "rbac.authorization.k8s.io"
AUTH_NAMESPACE = "kube-system"
"""Where the API server publishes the client CA an extension API server reads."""

READ = ("get", "list", "watch")
WATCH = ("list", "watch")
WRITE = ("create", "delete", "get", "list", "patch", "update", "watch")
STATUS = ("get", "patch", "update")


def rule(groups: str | tuple[str, ...], resources: tuple[str, ...], verbs: tuple[str, ...]) -> Rule:
    """One PolicyRule; ``groups`` "" is the core group."""
    names = (groups,) if isinstance(groups, str) else groups
    return {"apiGroups": list(names), "resources": list(resources), "verbs": list(verbs)}


@dataclass(frozen=True)
class Identity:
    """A component's user and what it may do."""

    component: str
    rules: tuple[Rule, ...]
    namespaced: tuple[tuple[str, tuple[Rule, ...]], ...] = ()
    """(namespace, rules) held through a Role in that namespace only."""
    delegates_auth: bool = False
    """An extension API server: it asks the API server who its callers are and whether they
    may (system:auth-delegator) and reads the requestheader CA in kube-system."""

    @property
    def user(self) -> str:
        return f"{PREFIX}{self.component}"

    def objects(self) -> list[dict[str, Any]]:
        """ClusterRole and binding, Roles and bindings, and the delegation bindings."""
        name, subject = self.user, [{"kind": "User", "apiGroup": RBAC, "name": self.user}]
        meta = {"labels": LABELS}
        out: list[dict[str, Any]] = [
            _obj("ClusterRole", name, meta, rules=list(self.rules)),
            _obj("ClusterRoleBinding", name, meta, subjects=subject, roleRef=_ref(name)),
        ]
        for ns, rules in self.namespaced:
            ns_meta = {**meta, "namespace": ns}
            out.append(_obj("Role", name, ns_meta, rules=list(rules)))
            out.append(
                _obj("RoleBinding", name, ns_meta, subjects=subject, roleRef=_ref(name, "Role"))
            )
        if self.delegates_auth:
            out.append(
                _obj(
                    "ClusterRoleBinding",
                    f"{name}:auth-delegator",
                    meta,
                    subjects=subject,
                    roleRef=_ref("system:auth-delegator"),
                )
            )
            out.append(
                _obj(
                    "RoleBinding",
                    f"{name}:auth-reader",
                    {**meta, "namespace": AUTH_NAMESPACE},
                    subjects=subject,
                    roleRef=_ref("extension-apiserver-authentication-reader", "Role"),
                )
            )
        return out


def _obj(kind: str, name: str, meta: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": {"name": name, **meta}, **body}


def _ref(name: str, kind: str = "ClusterRole") -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": kind, "name": name}


def _kserve() -> tuple[Rule, ...]:
    kserve: tuple[str, ...] = ("inferenceservices", "servingruntimes", "clusterservingruntimes")
    kserve += ("inferencegraphs", "trainedmodels")
    return (
        rule("", ("configmaps",), ("create", "get", "update")),
        rule("", ("events", "services"), WRITE),
        rule("", ("namespaces", "pods"), READ),
        rule("", ("secrets", "serviceaccounts"), ("get",)),
        rule("apps", ("deployments",), WRITE),
        rule("autoscaling", ("horizontalpodautoscalers",), WRITE),
        rule("keda.sh", ("scaledobjects", "scaledobjects/finalizers"), WRITE),
        rule("keda.sh", ("scaledobjects/status",), STATUS),
        rule("networking.k8s.io", ("ingresses",), WRITE),
        rule(
            "serving.kserve.io",
            (*kserve, *(f"{r}/finalizers" for r in kserve), "clusterstoragecontainers"),
            WRITE,
        ),
        rule("serving.kserve.io", tuple(f"{r}/status" for r in kserve), STATUS),
        rule("serving.kserve.io", ("localmodelcaches",), READ),
    )


def _kuberay() -> tuple[Rule, ...]:
    ray = ("rayclusters", "rayjobs", "rayservices")
    return (
        rule("", ("endpoints",), READ),
        rule("", ("events", "pods/status", "services"), WRITE),
        rule("", ("pods",), (*WRITE, "deletecollection")),
        rule("", ("services/status",), STATUS),
        # --use-kubernetes-proxy: the host process reaches Ray's dashboard (Serve's REST API)
        # through the API server's proxy subresource; it cannot resolve cluster DNS.
        rule("", ("services/proxy",), ("create", "get", "patch", "update")),
        # ... and asks the head pod's Serve proxy for its health (pods/proxy GET): only then
        # does it label the head ray.io/serve=true, which puts the head's proxy (never
        # drained, unlike a worker's without replicas) in the serve Service.
        rule("", ("pods/proxy",), ("get",)),
        rule("", ("pods/resize",), ("patch",)),
        rule("", ("serviceaccounts",), ("create", "delete", *READ)),
        rule("batch", ("jobs",), WRITE),
        rule("networking.k8s.io", ("ingresses",), WRITE),
        rule("networking.k8s.io", ("ingressclasses",), READ),
        rule("ray.io", ray, WRITE),
        rule("ray.io", tuple(f"{r}/finalizers" for r in ray), ("update",)),
        rule("ray.io", tuple(f"{r}/status" for r in ray), STATUS),
        # Ray's autoscaler sidecar gets a Role of its own, which KubeRay creates.
        rule(RBAC, ("roles",), ("create", "delete", "update", *READ)),
        rule(RBAC, ("rolebindings",), ("create", "delete", *READ)),
    )


def _keda_operator() -> tuple[Rule, ...]:
    keda: tuple[str, ...] = ("scaledobjects", "scaledjobs", "triggerauthentications")
    keda += ("clustertriggerauthentications",)
    events = ("cloudeventsources", "clustercloudeventsources")
    return (
        # Trigger authentication and a target's container environment may name any of these.
        rule("", ("configmaps", "pods", "secrets", "services"), READ),
        rule("", ("limitranges", "serviceaccounts"), WATCH),
        rule(("", "events.k8s.io"), ("events",), ("create", "patch")),
        # Scale targets: servegate's are Deployments and StatefulSets.
        rule("apps", ("deployments", "statefulsets"), READ),
        rule("apps", ("replicasets",), WATCH),
        rule("*", ("*/scale",), ("get", "list", "patch", "update", "watch")),
        rule("autoscaling", ("horizontalpodautoscalers",), WRITE),
        rule("batch", ("jobs",), WRITE),
        rule("discovery.k8s.io", ("endpointslices",), READ),
        rule(
            "keda.sh",
            (
                *keda,
                *(f"{r}/status" for r in keda),
                "scaledobjects/finalizers",
                "scaledjobs/finalizers",
            ),
            ("get", "list", "patch", "update", "watch"),
        ),
        rule(
            "eventing.keda.sh",
            (*events, *(f"{r}/status" for r in events)),
            ("get", "list", "patch", "update", "watch"),
        ),
    )


IDENTITIES: dict[str, Identity] = {
    i.component: i
    for i in (
        Identity(
            "coredns",
            (
                rule("", ("services", "namespaces"), WATCH),
                rule("discovery.k8s.io", ("endpointslices",), WATCH),
            ),
        ),
        Identity(
            "podsd",  # nodetool podsd: annotated pods and ServiceMonitors' targets (lists only)
            (
                rule("", ("pods", "services"), ("list",)),
                rule("discovery.k8s.io", ("endpointslices",), ("list",)),
                rule("monitoring.coreos.com", ("servicemonitors",), ("list",)),
            ),
        ),
        Identity(
            "kube-router",
            (
                rule("", ("namespaces", "pods", "services", "nodes", "endpoints"), READ),
                rule("networking.k8s.io", ("networkpolicies",), READ),
                rule("discovery.k8s.io", ("endpointslices",), READ),
            ),
        ),
        Identity(
            "metrics-server",
            (rule("", ("nodes/metrics",), ("get",)), rule("", ("pods", "nodes"), READ)),
            delegates_auth=True,
        ),
        Identity(
            "prometheus-adapter",
            (rule("", ("nodes", "namespaces", "pods", "services"), READ),),
            delegates_auth=True,
        ),
        Identity(
            "keda-operator",
            _keda_operator(),
            # KEDA_CLUSTER_OBJECT_NAMESPACE: the Secrets of ClusterTriggerAuthentications.
            namespaced=(("kube-system", (rule("", ("secrets",), READ),)),),
        ),
        Identity(
            "keda-adapter",
            (rule("keda.sh", ("scaledobjects",), READ),),
            delegates_auth=True,
        ),
        Identity("kserve-manager", _kserve()),
        Identity("kuberay-operator", _kuberay()),
    )
}


def get(component: str) -> Identity:
    try:
        return IDENTITIES[component]
    except KeyError:
        raise UserError(f"no identity defined for component {component!r}") from None


def users() -> list[str]:
    """Every component user, for the audit policy."""
    return sorted(i.user for i in IDENTITIES.values())


def issue(pki: Pki, identity: Identity) -> CertPair:
    """The component's client certificate (reused if present): CN = its user, no group."""
    return pki.issue(f"id-{identity.component}", identity.user)


def write_kubeconfig(
    pki: Pki, identity: Identity, server: str, context: str, path: Path
) -> tuple[Path, CertPair]:
    """A kubeconfig that authenticates as ``identity`` (mode 0600), and its certificate."""
    pair = issue(pki, identity)
    cfg = kubeconfig.render(server, pki.ca.cert, pair, context, identity.user)
    return kubeconfig.write(path, cfg), pair


def object_path(obj: dict[str, Any]) -> str:
    kind, meta = obj["kind"], obj["metadata"]
    plural = {
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "Role": "roles",
        "RoleBinding": "rolebindings",
    }[kind]
    ns = f"/namespaces/{meta['namespace']}" if "namespace" in meta else ""
    return f"/apis/{RBAC}/v1{ns}/{plural}/{meta['name']}"


def apply(api: Api, identity: Identity) -> None:
    """Server-side apply the identity's RBAC objects (creates or updates them)."""
    for obj in identity.objects():
        path = f"{object_path(obj)}?fieldManager={FIELD_MANAGER}&force=true"
        try:
            api.request("PATCH", path, obj, content_type="application/apply-patch+yaml")
        except ApiError as exc:
            raise UserError(f"RBAC for {identity.user}: {obj['kind']}: {exc}") from None
