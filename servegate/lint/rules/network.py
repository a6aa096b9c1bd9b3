"""SG4xx: how model servers are reached (Services, NetworkPolicies)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from servegate.lint.model import REGISTRY, Hit, K8sObject, Severity
from servegate.lint.workloads import (
    all_templates,
    as_dict,
    as_list,
    get,
    of_kind,
    same_namespace,
    selector_matches,
    serves_models,
)

_CONTROLLER_LABEL_PREFIXES = ("ray.io/", "serving.kserve.io/", "leaderworkerset.sigs.k8s.io/")
_INTERNAL_LB_ANNOTATIONS = {
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
}


def _allows_dns(rule: dict[str, Any]) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True  # every port
    for port in as_list(ports):
        if not isinstance(port, dict):
            continue
        if port.get("protocol", "TCP") != "UDP":
            continue
        number, end = port.get("port"), port.get("endPort")
        if number is None or number == 53 or number == "dns":
            return True
        if isinstance(number, int) and isinstance(end, int) and number <= 53 <= end:
            return True
    return False


@REGISTRY.rule(
    "SG401",
    "egress-without-dns",
    Severity.ERROR,
    "https://kubernetes.io/docs/concepts/services-networking/network-policies/",
)
def egress_dns(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A NetworkPolicy that restricts Egress without allowing DNS (UDP and TCP port 53).

    Listing Egress in policyTypes denies all egress not allowed by a rule; without a DNS rule the
    selected pods cannot resolve any name, so model downloads, Redis queues and telemetry all fail
    (Kubernetes docs 'Network Policies: default deny egress').

    Fix: Add an egress rule to kube-dns: to: [{namespaceSelector: {}, podSelector: {matchLabels:
    {k8s-app: kube-dns}}}], ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}].
    """
    for obj in of_kind(objects, "NetworkPolicy"):
        spec = as_dict(obj.doc.get("spec"))
        types = spec.get("policyTypes")
        egress = spec.get("egress")
        restricts = "Egress" in types if isinstance(types, list) else egress is not None
        if not restricts:
            continue
        rules = [r for r in as_list(egress) if isinstance(r, dict)]
        if not any(_allows_dns(r) for r in rules):
            what = "no egress rule at all" if not rules else "no egress rule for UDP port 53"
            path = ("spec", "egress") if egress is not None else ("spec", "policyTypes")
            yield Hit(obj, f"restricts Egress with {what}: DNS is blocked", path)


def _selected_templates(service: K8sObject, objects: Sequence[K8sObject]) -> list[Any]:
    selector = get(service.doc, "spec", "selector")
    if not isinstance(selector, dict) or not selector:
        return []
    return [
        t
        for t in all_templates(objects)
        if same_namespace(service, t.obj) and selector_matches({"matchLabels": selector}, t.labels)
    ]


def _internal(service: K8sObject) -> bool:
    annotations = as_dict(service.metadata.get("annotations"))
    for key, value in _INTERNAL_LB_ANNOTATIONS.items():
        if str(annotations.get(key, "")).lower() == value:
            return True
    return bool(get(service.doc, "spec", "loadBalancerSourceRanges"))


@REGISTRY.rule(
    "SG402",
    "loadbalancer-model-server",
    Severity.WARNING,
    "https://docs.vllm.ai/en/latest/usage/security.html",
)
def loadbalancer(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A LoadBalancer Service that exposes a model server directly.

    Cloud load balancers are internet-facing by default and OpenAI-compatible servers (vLLM, TGI)
    serve without authentication unless told otherwise: anyone can run up GPU bills or read prompts.
    vLLM's security guide says to put the API behind an authenticating proxy.

    Fix: Use a ClusterIP Service behind an Ingress/Gateway with TLS and auth, or mark the load
    balancer internal and set loadBalancerSourceRanges.
    """
    for obj in of_kind(objects, "Service"):
        if get(obj.doc, "spec", "type") != "LoadBalancer" or _internal(obj):
            continue
        if any(serves_models(t) for t in _selected_templates(obj, objects)):
            yield Hit(
                obj, "exposes a model server through a public load balancer", ("spec", "type")
            )


@REGISTRY.rule(
    "SG403",
    "service-selects-nothing",
    Severity.WARNING,
    "https://kubernetes.io/docs/concepts/services-networking/service/",
)
def service_nothing(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A Service whose selector matches no pod of the linted workloads.

    A Service with no endpoints accepts connections and resets them; the load test and the users see
    connection errors that look like a server fault.

    Fix: Make spec.selector equal to (a subset of) the workload's pod template labels.
    """
    for obj in of_kind(objects, "Service"):
        if get(obj.doc, "spec", "type") == "ExternalName":
            continue
        selector = get(obj.doc, "spec", "selector")
        if not isinstance(selector, dict) or not selector:
            continue
        if any(str(k).startswith(_CONTROLLER_LABEL_PREFIXES) for k in selector):
            continue
        if not _selected_templates(obj, objects):
            yield Hit(obj, "selector matches no pod of the linted workloads", ("spec", "selector"))


@REGISTRY.rule(
    "SG404",
    "statefulset-service-missing",
    Severity.WARNING,
    "https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/",
)
def statefulset_service(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A StatefulSet whose serviceName is not a headless Service among the linted objects.

    The governing headless Service gives each replica its stable DNS name (pod-0.<serviceName>), the
    reason to use a StatefulSet for model servers; if it is missing or has a cluster IP, those names
    do not resolve (Kubernetes docs 'StatefulSets').

    Fix: Create a Service with clusterIP: None named as spec.serviceName, selecting the pods.
    """
    for obj in of_kind(objects, "StatefulSet"):
        name = get(obj.doc, "spec", "serviceName")
        if not isinstance(name, str) or not name:
            continue
        services = [
            o for o in objects if o.kind == "Service" and o.name == name and same_namespace(o, obj)
        ]
        if not services:
            yield Hit(obj, f"serviceName {name!r} names no Service", ("spec", "serviceName"))
        elif get(services[0].doc, "spec", "clusterIP") != "None":
            yield Hit(obj, f"Service {name!r} is not headless", ("spec", "serviceName"))
