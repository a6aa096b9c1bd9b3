"""SG4xx: how model servers are reached (Services, NetworkPolicies)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity
from servegate.lint.rules.objects import applied_together, variant_files
from servegate.lint.workloads import (
    PodTemplate,
    all_templates,
    as_dict,
    as_list,
    get,
    of_kind,
    pod_labels,
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
        if same_namespace(service, t.obj)
        and any(selector_matches({"matchLabels": selector}, labels) for labels in pod_labels(t))
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


@dataclass(frozen=True)
class EngineEnv:
    """An inference engine: how to recognise its containers, and the environment variables it
    reads that a Service's link variables (``<NAME>_PORT=tcp://...``) can collide with."""

    image: re.Pattern[str]  # matched against the last path segment of the image, tag removed
    command: re.Pattern[str]  # matched against command + args joined by spaces
    reads: frozenset[str]


# Data, not code: add an engine or a variable here (the names come from each engine's settings).
ENGINE_ENV: dict[str, EngineEnv] = {
    # vllm/envs.py: VLLM_PORT is parsed as an int (a URI raises "appears to be a URI ... Kubernetes
    # service discovery issue"); the data-parallel master and NIXL side-channel ports as well.
    "vLLM": EngineEnv(
        image=re.compile(r"^vllm(?!.*(router|gateway|proxy|bench|operator|controller))"),
        command=re.compile(r"vllm serve|vllm\.entrypoints|-m vllm\b|(^|\s)vllm\s"),
        reads=frozenset({"VLLM_PORT", "VLLM_DP_MASTER_PORT", "VLLM_NIXL_SIDE_CHANNEL_PORT"}),
    ),
    # text-generation-launcher takes every flag from the environment as well (clap `env`):
    # --prometheus-port from PROMETHEUS_PORT, --master-port from MASTER_PORT, both numbers.
    "TGI": EngineEnv(
        image=re.compile(r"^text-generation-inference"),
        command=re.compile(r"text-generation-launcher"),
        reads=frozenset({"PROMETHEUS_PORT", "MASTER_PORT"}),
    ),
}


def service_link_variables(name: str, spec: dict[str, Any]) -> list[str]:
    """The variables the kubelet injects for Service ``name`` into the pods of its namespace
    (none for headless and ExternalName Services)."""
    ports = [as_dict(p) for p in as_list(spec.get("ports"))]
    if spec.get("clusterIP") == "None" or spec.get("type") == "ExternalName" or not ports:
        return []
    prefix = name.upper().replace("-", "_")
    names = [f"{prefix}_PORT", f"{prefix}_SERVICE_HOST", f"{prefix}_SERVICE_PORT"]
    for port in ports:
        if isinstance(port.get("name"), str):
            names.append(f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}")
        base = f"{prefix}_PORT_{port.get('port')}_{str(port.get('protocol') or 'TCP').upper()}"
        names += [base, f"{base}_PROTO", f"{base}_PORT", f"{base}_ADDR"]
    return names


_RAY_CLUSTER_SPEC: dict[str, Path_] = {
    "RayCluster": ("spec",),
    "RayService": ("spec", "rayClusterConfig"),
    "RayJob": ("spec", "rayClusterSpec"),
}


def _services(
    objects: Sequence[K8sObject],
) -> Iterator[tuple[K8sObject, str, dict[str, Any], Path_]]:
    """(owner, Service name, Service spec, path of the name) of each Service object and of each
    head Service KubeRay creates under the name given in headGroupSpec.headService."""
    for obj in objects:
        if obj.kind == "Service":
            yield obj, obj.name, as_dict(obj.doc.get("spec")), ("metadata", "name")
        elif obj.kind in _RAY_CLUSTER_SPEC:
            path = (*_RAY_CLUSTER_SPEC[obj.kind], "headGroupSpec", "headService")
            head = get(obj.doc, *path)
            name = get(head, "metadata", "name")
            if isinstance(name, str) and name:
                spec = as_dict(get(head, "spec"))
                if not spec.get("ports"):  # KubeRay adds the head ports (GCS 6379, ...)
                    spec = {**spec, "ports": [{"name": "gcs-server", "port": 6379}]}
                yield obj, name, spec, (*path, "metadata", "name")


def _dir(obj: K8sObject) -> str:
    return obj.file.rsplit("/", 1)[0] if "/" in obj.file else ""


def _engine(container: dict[str, Any]) -> EngineEnv | None:
    image = container.get("image")
    repo = (
        image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0] if isinstance(image, str) else ""
    )
    line = " ".join(str(w) for key in ("command", "args") for w in as_list(container.get(key)))
    for engine in ENGINE_ENV.values():
        if engine.image.search(repo.lower()) or engine.command.search(line):
            return engine
    return None


def _readers(objects: Sequence[K8sObject]) -> list[tuple[PodTemplate, str, frozenset[str]]]:
    """(template, engine name, variables it reads and does not set itself) for each container
    that runs a known engine in a pod that keeps service links on."""
    out = []
    for template in all_templates(objects):
        if template.spec.get("enableServiceLinks") is False:
            continue
        for _, container in template.containers():
            engine = _engine(container)
            if engine is None:
                continue
            own = {str(as_dict(v).get("name")) for v in as_list(container.get("env"))}
            name = next(k for k, v in ENGINE_ENV.items() if v is engine)
            out.append((template, name, engine.reads - own))
    return out


@REGISTRY.rule(
    "SG405",
    "service-env-collision",
    Severity.ERROR,
    "https://docs.vllm.ai/en/stable/configuration/env_vars/",
)
def service_env(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A Service (or a KubeRay head Service) whose name makes Kubernetes inject a variable the
    model server reads as its own setting: a Service named vllm injects VLLM_PORT=tcp://... next
    to vLLM.

    The kubelet gives every pod <NAME>_PORT, <NAME>_SERVICE_HOST, ... for each Service of its
    namespace (Kubernetes docs 'Service: environment variables'); vLLM reads VLLM_PORT as an
    integer and refuses to start ('VLLM_PORT ... appears to be a URI'), and its docs say not to
    name the Service vllm. TGI takes PROMETHEUS_PORT and MASTER_PORT the same way.

    Fix: Rename the Service (vllm-server, llm-api), or set enableServiceLinks: false in the model
    server's pod spec.
    """
    readers = _readers(objects)
    if not readers:
        return
    variants = variant_files(objects)
    for owner, name, spec, path in _services(objects):
        injected = set(service_link_variables(name, spec))
        if not injected:
            continue
        # Name the nearest reader: one of the Service's own file first, then of its directory.
        nearest = sorted(
            readers,
            key=lambda r: (r[0].obj.file != owner.file, _dir(r[0].obj) != _dir(owner)),
        )
        for template, engine, reads in nearest:
            clash = sorted(injected & reads)
            if clash and applied_together(owner, template.obj, variants):
                yield Hit(
                    owner,
                    f"Service {name!r} injects {clash[0]}=tcp://... into the pods of its "
                    f"namespace; {engine} in {template.obj.ref} reads {clash[0]} as its own "
                    "setting and fails to start",
                    path,
                )
                break
