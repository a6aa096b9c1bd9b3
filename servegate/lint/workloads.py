"""What rules need to know about workloads: pod templates, containers, GPUs, model servers.

Every kind that carries a pod spec (core workloads, Jobs, LeaderWorkerSet, KubeRay, KServe)
is reduced to :class:`PodTemplate`, so a rule is written once for all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from servegate.lint import platforms
from servegate.lint.model import K8sObject, Path_

MODEL_SERVER_ANNOTATION = "servegate.dev/model-server"

# Image repositories of inference servers (matched against the path, not the tag).
_SERVER_IMAGES = re.compile(
    r"(vllm|text-generation-inference|/tgi|tritonserver|triton-?inference|kserve|"
    r"huggingfaceserver|sglang|ollama|llama[.-]?cpp|text-embeddings-inference|nim/|"
    r"sentence-transformers|localai|lmdeploy|tensorrt-llm|aphrodite)",
    re.IGNORECASE,
)
# Entry points of inference servers in command/args.
_SERVER_COMMANDS = re.compile(
    r"(vllm\.entrypoints|vllm serve|^vllm$|text-generation-launcher|tritonserver|"
    r"sglang\.launch_server|llama-server|text-embeddings-router|lmdeploy serve|ollama serve)",
    re.IGNORECASE,
)
# Kinds whose controller injects probes (KubeRay, KServe/Knative): probe rules skip them.
CONTROLLER_PROBED_KINDS = {
    "RayService", "RayCluster", "RayJob", "RayClusterFleet", "InferenceService",
    "LLMInferenceService",
}  # fmt: skip
SCALABLE_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}
# Pods that run to completion: nothing routes requests to them.
RUN_TO_COMPLETION_KINDS = {"Job", "CronJob"}


@dataclass
class PodTemplate:
    """A pod spec inside an object; ``path`` locates the spec, ``labels`` its pod labels."""

    obj: K8sObject
    path: Path_
    spec: dict[str, Any]
    labels: dict[str, str]
    replicas: int | None
    role: str = ""
    group_size: int | None = None  # pods per group for multi-node kinds (LeaderWorkerSet size)

    def containers(self, init: bool = False) -> Iterator[tuple[Path_, dict[str, Any]]]:
        keys = ("containers", "initContainers") if init else ("containers",)
        for key in keys:
            items = self.spec.get(key)
            if isinstance(items, list):
                for index, item in enumerate(items):
                    if isinstance(item, dict):
                        yield (*self.path, key, index), item

    def annotation(self, key: str) -> str | None:
        value = self.obj.metadata.get("annotations", {})
        return value.get(key) if isinstance(value, dict) else None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else empty: rules read garbage as absent, never crash."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _get(doc: Any, path: Path_) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(doc, list) or part >= len(doc):
                return None
        elif not isinstance(doc, dict):
            return None
        doc = doc[part] if isinstance(part, int) else doc.get(part)
    return doc


def get(doc: Any, *path: str | int) -> Any:
    """Nested lookup that returns None on any missing or mistyped step."""
    return _get(doc, path)


def _replicas(value: Any, default: int | None = 1) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _labels(meta: Any) -> dict[str, str]:
    labels = as_dict(as_dict(meta).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


def _template_at(
    obj: K8sObject, path: Path_, replicas: int | None, role: str = "", group: int | None = None
) -> PodTemplate:
    template = as_dict(_get(obj.doc, path))
    return PodTemplate(
        obj=obj,
        path=(*path, "spec"),
        spec=as_dict(template.get("spec")),
        labels=_labels(template.get("metadata")),
        replicas=replicas,
        role=role,
        group_size=group,
    )


def _kserve_templates(obj: K8sObject) -> Iterator[PodTemplate]:
    for component in ("predictor", "transformer", "explainer"):
        spec = as_dict(get(obj.doc, "spec", component))
        if not spec:
            continue
        # The predictor is a PodSpec with the model (or a framework key) as its main container.
        containers = [c for c in spec.get("containers", []) if isinstance(c, dict)]
        for key, value in spec.items():
            if isinstance(value, dict) and ("resources" in value or "storageUri" in value):
                containers.append({"name": f"kserve-{key}", **value})
        flat = {**spec, "containers": containers}
        labels = {"serving.kserve.io/inferenceservice": obj.name, "component": component}
        yield PodTemplate(
            obj=obj,
            path=("spec", component),
            spec=flat,
            labels=labels,
            replicas=_replicas(spec.get("minReplicas")),
            role=component,
        )
        # Multi-node serving: the predictor's workerSpec is the PodSpec of the worker pods.
        worker = as_dict(spec.get("workerSpec"))
        if worker and component == "predictor":
            yield PodTemplate(
                obj=obj,
                path=("spec", component, "workerSpec"),
                spec=worker,
                labels={**labels, "component": f"{component}-worker"},
                replicas=_replicas(spec.get("minReplicas")),
                role="worker",
            )


def _llmisvc_templates(obj: K8sObject) -> Iterator[PodTemplate]:
    """KServe LLMInferenceService: ``template`` (decode or the only stage) and ``worker``
    (multi-node), both PodSpecs, for the main stage and for ``prefill``."""
    labels = {
        "app.kubernetes.io/component": "llminferenceservice-workload",
        "app.kubernetes.io/name": obj.name,
        "app.kubernetes.io/part-of": "llminferenceservice",
    }
    for stage in ((), ("prefill",)):
        base: Path_ = ("spec", *stage)
        stage_spec = as_dict(_get(obj.doc, base))
        for key, role in (("template", ""), ("worker", "worker")):
            spec = as_dict(stage_spec.get(key))
            if spec:
                name = "-".join(p for p in (*stage, role) if p)
                yield PodTemplate(
                    obj=obj,
                    path=(*base, key),
                    spec=spec,
                    labels=labels,
                    replicas=_replicas(stage_spec.get("replicas")),
                    role=name,
                )


def pod_templates(obj: K8sObject) -> Iterator[PodTemplate]:
    """Every pod spec an object would create."""
    kind, doc = obj.kind, obj.doc
    if kind == "Pod":
        yield PodTemplate(obj, ("spec",), as_dict(doc.get("spec")), _labels(doc.get("metadata")), 1)
    elif kind in SCALABLE_KINDS:
        yield _template_at(obj, ("spec", "template"), _replicas(get(doc, "spec", "replicas")))
    elif kind in ("DaemonSet", "Job"):
        yield _template_at(obj, ("spec", "template"), None)
    elif kind == "CronJob":
        yield _template_at(obj, ("spec", "jobTemplate", "spec", "template"), None)
    elif kind == "LeaderWorkerSet":
        base = ("spec", "leaderWorkerTemplate")
        groups = _replicas(get(doc, "spec", "replicas"))
        size = _replicas(_get(doc, (*base, "size")))
        if isinstance(_get(doc, (*base, "leaderTemplate")), dict):
            yield _template_at(obj, (*base, "leaderTemplate"), groups, "leader", size)
        yield _template_at(obj, (*base, "workerTemplate"), groups, "worker", size)
    elif kind in ("RayCluster", "RayService", "RayJob", "RayClusterFleet"):
        root: Path_ = {
            "RayCluster": ("spec",),
            "RayService": ("spec", "rayClusterConfig"),
            "RayClusterFleet": ("spec", "template", "spec"),  # AIBrix
        }.get(kind, ("spec", "rayClusterSpec"))
        if isinstance(_get(doc, (*root, "headGroupSpec", "template")), dict):
            yield _template_at(obj, (*root, "headGroupSpec", "template"), 1, "head")
        workers = _get(doc, (*root, "workerGroupSpecs"))
        for index, group in enumerate(workers if isinstance(workers, list) else []):
            count = _replicas(as_dict(group).get("replicas"))
            yield _template_at(obj, (*root, "workerGroupSpecs", index, "template"), count, "worker")
    elif kind == "InferenceService":
        yield from _kserve_templates(obj)
    elif kind == "LLMInferenceService":
        yield from _llmisvc_templates(obj)


def all_templates(objects: Sequence[K8sObject]) -> list[PodTemplate]:
    return [t for obj in objects for t in pod_templates(obj)]


def all_containers(
    objects: Sequence[K8sObject], init: bool = False
) -> Iterator[tuple[PodTemplate, Path_, dict[str, Any]]]:
    """(template, path, container) for every container of every pod template, in order."""
    for template in all_templates(objects):
        for path, container in template.containers(init=init):
            yield template, path, container


def of_kind(objects: Sequence[K8sObject], kind: str) -> Iterator[K8sObject]:
    """The objects of one kind, in order."""
    return (obj for obj in objects if obj.kind == kind)


# -- resources -------------------------------------------------------------------------------

_GPU_RESOURCE = re.compile(r"^(nvidia\.com/(gpu|mig-.+)|amd\.com/gpu|gpu\.intel\.com/.+)$")
_BINARY = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_UNITS: dict[str, Decimal] = {
    suffix: Decimal(2) ** (10 * (i + 1)) for i, suffix in enumerate(_BINARY)
} | {
    suffix: Decimal(10) ** exp
    for suffix, exp in (("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9),
                        ("T", 12), ("P", 15), ("E", 18))
}  # fmt: skip
_QUANTITY = re.compile(
    r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$"
)


def is_gpu_resource(name: str) -> bool:
    """GPUs proper (NVIDIA, MIG slices, AMD, Intel); see :func:`is_accelerator_resource`."""
    return bool(_GPU_RESOURCE.match(name))


def is_accelerator_resource(name: str) -> bool:
    """GPUs, TPUs, Gaudi and Neuron devices (the list lives in platforms.yaml)."""
    return platforms.is_accelerator(name)


def is_extended_resource(name: str) -> bool:
    """Extended resources are domain-prefixed names outside kubernetes.io."""
    if "/" not in name:
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity as a number; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _UNITS[match.group(2)]
    except InvalidOperation:
        return None


def resources(container: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    res = as_dict(container.get("resources"))
    return as_dict(res.get("requests")), as_dict(res.get("limits"))


def gpu_count(container: Mapping[str, Any]) -> Decimal:
    """GPUs a container gets: its limit, else its request (whole GPUs and MIG slices)."""
    requests, limits = resources(container)
    total = Decimal(0)
    for name in {*requests, *limits}:
        if is_gpu_resource(str(name)):
            value = parse_quantity(limits.get(name, requests.get(name)))
            total += value if value is not None else 0
    return total


def template_gpus(template: PodTemplate) -> Decimal:
    return sum((gpu_count(c) for _, c in template.containers()), Decimal(0))


def accelerators(container: Mapping[str, Any]) -> dict[str, Decimal]:
    """Accelerator resources a container names (limit, else request) and their counts."""
    requests, limits = resources(container)
    out: dict[str, Decimal] = {}
    for name in {*requests, *limits}:
        if is_accelerator_resource(str(name)):
            value = parse_quantity(limits.get(name, requests.get(name)))
            out[str(name)] = value if value is not None else Decimal(0)
    return out


def accelerator_count(container: Mapping[str, Any]) -> Decimal:
    """Accelerator devices (any kind) a container gets."""
    return sum(accelerators(container).values(), Decimal(0))


def parallel_slots(container: Mapping[str, Any]) -> Decimal:
    """The most parallel workers (GPU ranks, TPU chips, NeuronCores) the container's
    accelerators can hold: devices x the units per device in platforms.yaml."""
    return sum(
        (
            count * (platforms.accelerator_units(name) or 1)
            for name, count in accelerators(container).items()
        ),
        Decimal(0),
    )


def template_accelerators(template: PodTemplate) -> Decimal:
    return sum((accelerator_count(c) for _, c in template.containers()), Decimal(0))


# -- model servers ---------------------------------------------------------------------------


def _words(container: Mapping[str, Any]) -> list[str]:
    words: list[str] = []
    for key in ("command", "args"):
        value = container.get(key)
        if isinstance(value, list):
            words.extend(str(v) for v in value)
    return words


def is_model_server(template: PodTemplate, container: Mapping[str, Any]) -> bool:
    """Accelerator-requesting containers, known inference-server images and entry points.

    An object annotation ``servegate.dev/model-server: "true"``/``"false"`` overrides.
    """
    override = template.annotation(MODEL_SERVER_ANNOTATION)
    if override is not None:
        return str(override).lower() == "true"
    if accelerator_count(container) > 0:
        return True
    image = container.get("image")
    if isinstance(image, str) and _SERVER_IMAGES.search(image.rsplit(":", 1)[0]):
        return True
    line = " ".join(_words(container))
    return any(_SERVER_COMMANDS.search(w) for w in [line, *_words(container)])


def serves_models(template: PodTemplate) -> bool:
    return any(is_model_server(template, c) for _, c in template.containers())


_MODEL_FLAGS = ("--model", "--model-path", "--model-id", "--model_id", "--model_path")
_PARAMETERS = re.compile(r"(?<![\w.])(?:(\d+)x)?(\d+(?:\.\d+)?)[bB](?![a-zA-Z0-9])")
_BITS_8 = re.compile(r"fp8|int8|w8a8|w8a16|8bit|q8", re.IGNORECASE)
_BITS_4 = re.compile(r"awq|gptq|int4|nf4|w4a16|4bit|q4|mxfp4|bnb", re.IGNORECASE)


def model_name(container: Mapping[str, Any]) -> str | None:
    """The model a server loads, from --model/--model-path/--model-id or ``serve <model>``."""
    words = command_words(container)
    for index, word in enumerate(words):
        flag, _, value = word.partition("=")
        if flag in _MODEL_FLAGS:
            value = value or (words[index + 1] if index + 1 < len(words) else "")
            return value.strip("'\"") or None
        if word == "serve" and index + 1 < len(words) and not words[index + 1].startswith("-"):
            return words[index + 1].strip("'\"")
    return None


def model_gigabytes(name: str) -> float | None:
    """Weight size of a model from the parameter count in its name (Llama-3.1-70B, 8x7B,
    Qwen3-235B-A22B: the largest count), at 2 bytes a parameter, 1 for 8-bit and 0.5 for 4-bit
    quantisations named in it; for names without a count, the published size listed in
    platforms.yaml; None when neither gives it."""
    counts = [
        float(total) * (int(experts) if experts else 1)
        for experts, total in _PARAMETERS.findall(name.rsplit("/", 1)[-1])
    ]
    if not counts:
        return platforms.published_model_gb(name)
    per_parameter = 0.5 if _BITS_4.search(name) else 1.0 if _BITS_8.search(name) else 2.0
    return max(counts) * per_parameter


def receives_requests(template: PodTemplate) -> bool:
    """False for pods that nothing sends requests to: run-to-completion Jobs, and the workers of
    a LeaderWorkerSet with a leader template (Services and clients talk to the leader; workers
    only join its Ray, torch.distributed or MPI group)."""
    if template.obj.kind in RUN_TO_COMPLETION_KINDS:
        return False
    return not (
        template.obj.kind == "LeaderWorkerSet"
        and template.role == "worker"
        and isinstance(
            get(template.obj.doc, "spec", "leaderWorkerTemplate", "leaderTemplate"), dict
        )
    )


def command_words(container: Mapping[str, Any]) -> list[str]:
    """command + args, with shell-wrapped strings (``sh -c "vllm serve ..."``) split."""
    out: list[str] = []
    for word in _words(container):
        out.extend(word.split())
    return out


# -- selectors -------------------------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against pod labels; empty matches all."""
    match_labels = as_dict(selector.get("matchLabels"))
    if any(labels.get(str(k)) != str(v) for k, v in match_labels.items()):
        return False
    expressions = selector.get("matchExpressions")
    for expr in expressions if isinstance(expressions, list) else []:
        expr = as_dict(expr)
        key, op = str(expr.get("key")), expr.get("operator")
        values = [str(v) for v in as_list(expr.get("values"))]
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels.get(key) in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


# StatefulSet pods get these labels from the controller besides the template's (the pod index
# label since Kubernetes 1.28, PodIndexLabel); a Service may select one replica with them.
_STATEFULSET_POD_INDEX = "apps.kubernetes.io/pod-index"
_STATEFULSET_POD_NAME = "statefulset.kubernetes.io/pod-name"
_MAX_INDEXED_PODS = 1024


def pod_labels(template: PodTemplate) -> Iterator[dict[str, str]]:
    """The labels of the pods a template makes: its own, plus the per-pod labels a StatefulSet's
    controller adds (index and pod name of each replica)."""
    if template.obj.kind != "StatefulSet" or template.role:
        yield template.labels
        return
    count = template.replicas if template.replicas is not None else 1
    for index in range(min(max(count, 0), _MAX_INDEXED_PODS)):
        yield {
            **template.labels,
            _STATEFULSET_POD_INDEX: str(index),
            _STATEFULSET_POD_NAME: f"{template.obj.name}-{index}",
        }


def same_namespace(a: K8sObject, b: K8sObject) -> bool:
    """Objects without a namespace land in the same (current) namespace."""
    return (a.namespace or "default") == (b.namespace or "default")
