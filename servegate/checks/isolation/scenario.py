"""The isolation scenario as data: which probe pods exist, what is probed, what the isolation
requirement says each probe must find, and the policies (the reference one, and deliberately
broken ones for the meta-tests). Pure, so the expectations are unit-tested without a cluster.

Two namespaces: ``a`` holds the model server (labelled as the reference Deployment's pod
template), an api-gateway pod (``role=api-gateway``) and an unrelated pod; ``b`` is another
tenant with its own ``role=api-gateway`` pod (same label, other namespace) and an unrelated
pod. Every pod serves TCP 8000; the model server also serves 9090, a port the policy does not
open. The requirement with the isolation policy applied:

- only ``a/api-gateway`` reaches the model server, and only on 8000;
- the model server reaches no other pod (its egress is DNS and the model store only);
- traffic that does not involve the model server is untouched;
- DNS resolves from every pod, the model server and the gateway included.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from servegate.checks.isolation.matrix import TruthTable

Obj = dict[str, Any]

SERVE_PORT = 8000
OTHER_PORT = 9090
DNS = "dns"
DNS_NAME = "kubernetes.default"
"""Resolved by the DNS probes: the API server's Service exists on every cluster."""
GATEWAY_LABELS = {"role": "api-gateway"}
MODEL = "model-server"
GATEWAY = "api-gateway"


@dataclass(frozen=True)
class ProbePod:
    ns: str  # "a" or "b": the scenario's alias, mapped to real namespace names at setup
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = (SERVE_PORT,)

    @property
    def key(self) -> str:
        return f"{self.ns}/{self.name}"


@dataclass(frozen=True)
class Target:
    """A column: a pod's port, or DNS (``pod`` None)."""

    key: str
    pod: ProbePod | None
    port: int


def pods(model_labels: dict[str, str]) -> list[ProbePod]:
    return [
        ProbePod("a", GATEWAY, dict(GATEWAY_LABELS)),
        ProbePod("a", MODEL, dict(model_labels), (SERVE_PORT, OTHER_PORT)),
        ProbePod("a", "other"),
        ProbePod("b", GATEWAY, dict(GATEWAY_LABELS)),
        ProbePod("b", "other"),
    ]


def targets(all_pods: list[ProbePod]) -> list[Target]:
    cols = [Target(f"{p.key}:{port}", p, port) for p in all_pods for port in p.ports]
    return [*cols, Target(DNS, None, 53)]


def pod_columns(all_pods: list[ProbePod]) -> list[str]:
    """The columns that are a pod's port (every column but DNS)."""
    return [t.key for t in targets(all_pods) if t.pod is not None]


def is_self(row: str, col: str) -> bool:
    """A pod probing itself goes over its own loopback, which no policy governs."""
    return col.rsplit(":", 1)[0] == row


def _model(key: str) -> bool:
    return key == f"a/{MODEL}"


def isolated(row: str, target: Target) -> bool:
    """The requirement, cell by cell (see the module docstring)."""
    if target.pod is None:
        return True  # DNS works everywhere
    if _model(row):
        return False  # the model server's egress reaches no pod
    if _model(target.pod.key):
        return row == f"a/{GATEWAY}" and target.port == SERVE_PORT
    return True


def expected(all_pods: list[ProbePod], policy_applied: bool) -> TruthTable:
    """What the probes must find: everything open without a policy, else the requirement."""
    cols = {t.key: t for t in targets(all_pods)}
    return TruthTable.build(
        [p.key for p in all_pods],
        list(cols),
        lambda r, c: isolated(r, cols[c]) if policy_applied else True,
        skip=is_self,
    )


def model_server_labels(unit_objects: list[Obj]) -> dict[str, str]:
    """The pod-template labels of the reference unit's model server (its selector's target)."""
    for o in unit_objects:
        tmpl = o.get("spec", {}).get("template", {})
        labels = tmpl.get("metadata", {}).get("labels", {})
        if o.get("kind") in ("Deployment", "StatefulSet") and "servegate.io/role" in labels:
            return dict(labels)
    raise LookupError("the reference unit has no model-server workload (servegate.io/role)")


def reference_policy(unit_objects: list[Obj]) -> Obj:
    for o in unit_objects:
        if o.get("kind") == "NetworkPolicy":
            return copy.deepcopy(o)
    raise LookupError("the reference unit has no NetworkPolicy (components/policies)")


def _selects_kube_dns(peer: Obj) -> bool:
    pod_sel = peer.get("podSelector", {}).get("matchLabels", {})
    return bool(pod_sel.get("k8s-app") == "kube-dns")


def adapt_dns(policy: Obj, dns_addresses: list[str]) -> tuple[Obj, list[str]]:
    """Let a policy's "DNS to kube-dns pods" rules also admit DNS served outside pods.

    On clusters whose kube-dns endpoints are not pods (the local cluster's CoreDNS is a host
    process at the bridge address; NodeLocal DNSCache), a podSelector cannot match the DNS
    server, so a correct policy would cut DNS there. Each egress rule with a kube-dns peer
    gets an ipBlock /32 per address; rules without one are left alone, so a policy that
    forgets DNS still loses it. Returns the policy and a note per change."""
    out = copy.deepcopy(policy)
    notes: list[str] = []
    if not dns_addresses:
        return out, notes
    for i, rule in enumerate(out.get("spec", {}).get("egress", []) or []):
        peers = rule.get("to", []) or []
        if any(_selects_kube_dns(p) for p in peers):
            for addr in dns_addresses:
                peers.append({"ipBlock": {"cidr": f"{addr}/32"}})
            rule["to"] = peers
            notes.append(
                f"egress rule {i} (to kube-dns pods) also admits {', '.join(dns_addresses)}: "
                "this cluster's DNS endpoints are not pods"
            )
    return out, notes


def without_dns(policy: Obj) -> Obj:
    """The seed article's mistake: Egress listed, but no rule lets DNS out."""
    out = copy.deepcopy(policy)
    spec = out["spec"]
    spec["egress"] = [
        r
        for r in spec.get("egress", []) or []
        if not any(_selects_kube_dns(p) for p in r.get("to", []) or [])
    ]
    out["metadata"]["name"] = f"{policy['metadata']['name']}-no-dns"
    return out


def admits_everyone(policy: Obj) -> Obj:
    """An ingress peer with an empty namespaceSelector: every pod of every namespace."""
    out = copy.deepcopy(policy)
    for rule in out["spec"].get("ingress", []) or []:
        rule["from"] = [{"namespaceSelector": {}}]
    out["metadata"]["name"] = f"{policy['metadata']['name']}-open"
    return out


def deny_all_ingress(pod_labels: dict[str, str]) -> Obj:
    """The canary: no ingress at all to the selected pods."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "sg-canary-deny-all"},
        "spec": {"podSelector": {"matchLabels": dict(pod_labels)}, "policyTypes": ["Ingress"]},
    }
