"""SG1xx: GPUs and other resources of model-serving containers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity
from servegate.lint.workloads import (
    PodTemplate,
    all_containers,
    all_templates,
    as_dict,
    as_list,
    command_words,
    get,
    gpu_count,
    is_extended_resource,
    parse_quantity,
    resources,
    template_gpus,
)

K8S_GPU_DOC = "https://kubernetes.io/docs/tasks/manage-gpus/scheduling-gpus/"


def _gpu_templates(objects: Sequence[K8sObject]) -> Iterator[PodTemplate]:
    for template in all_templates(objects):
        if template_gpus(template) > 0:
            yield template


def _who(container: dict[str, Any]) -> str:
    """How messages name a container: ``container 'vllm'``."""
    return f"container {container.get('name')!r}"


def _requests(
    objects: Sequence[K8sObject], extended: bool
) -> Iterator[tuple[PodTemplate, Path_, str, Any, Any, dict[str, Any]]]:
    """(template, container path, "container 'name'", resource, request, limits) for every
    resource a container (init containers too) requests: extended ones, or the others."""
    for template, path, container in all_containers(objects, init=True):
        requests, limits = resources(container)
        for name, wanted in requests.items():
            if is_extended_resource(str(name)) == extended:
                yield template, path, _who(container), name, wanted, limits


@REGISTRY.rule("SG101", "gpu-limits-equal-requests", Severity.ERROR, K8S_GPU_DOC)
def gpu_limits(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """Extended resources (nvidia.com/gpu, nvidia.com/mig-*, ...) requested without an equal limit.

    Extended resources cannot be overcommitted: Kubernetes requires a limit for them and, when a
    request is also given, that it equals the limit; the API server rejects the pod otherwise
    (Kubernetes docs, 'Schedule GPUs' and 'Resource Management for Pods').

    Fix: Set the GPU count under resources.limits (requests may be omitted; they default to the
    limit), or make requests and limits equal.
    """
    for template, path, who, name, wanted, limits in _requests(objects, extended=True):
        if name not in limits:
            yield Hit(
                template.obj,
                f"{who} requests {name} without a limit",
                (*path, "resources", "requests", str(name)),
            )
        elif parse_quantity(limits[name]) != parse_quantity(wanted):
            yield Hit(
                template.obj,
                f"{who}: {name} request {wanted} differs from limit {limits[name]}",
                (*path, "resources", "limits", str(name)),
            )


@REGISTRY.rule("SG107", "extended-resource-not-integer", Severity.ERROR, K8S_GPU_DOC)
def extended_not_integer(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A GPU or other extended resource given as a fraction or a non-number.

    Extended resources are counted in whole units; Kubernetes rejects fractional values. Sharing a
    GPU needs time-slicing or MIG, which expose whole virtual devices (NVIDIA k8s-device-plugin
    docs).

    Fix: Request a whole number, or a MIG profile (nvidia.com/mig-1g.10gb: 1) or a time-sliced
    replica instead of a fraction.
    """
    for template, path, container in all_containers(objects, init=True):
        for section, values in zip(("requests", "limits"), resources(container), strict=True):
            for name, value in values.items():
                if not is_extended_resource(str(name)):
                    continue
                number = parse_quantity(value)
                if number is None or number != number.to_integral_value() or number < 0:
                    yield Hit(
                        template.obj,
                        f"{_who(container)}: {name} {section} is {value!r}, not a whole number",
                        (*path, "resources", section, str(name)),
                    )


def _node_keys(spec: dict[str, Any]) -> set[str]:
    keys = {str(k) for k in as_dict(spec.get("nodeSelector"))}
    terms = get(
        spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    )  # fmt: skip
    for term in as_list(terms):
        for expr in as_list(as_dict(term).get("matchExpressions")):
            if isinstance(expr, dict) and expr.get("operator") not in ("NotIn", "DoesNotExist"):
                keys.add(str(expr.get("key")))
    return keys


_GPU_NODE_LABEL = re.compile(r"(gpu|accelerator)", re.IGNORECASE)


@REGISTRY.rule("SG102", "gpu-node-selection", Severity.WARNING, K8S_GPU_DOC)
def gpu_node_selection(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A GPU pod that does not say which GPU nodes it needs (nodeSelector or required affinity).

    Clusters mix GPU models; a model sized for an 80 GB GPU loads and then fails (or runs out of KV
    cache) on a smaller one. GPU Feature Discovery labels nodes with nvidia.com/gpu.present and
    nvidia.com/gpu.product so pods can require the right hardware (Kubernetes docs 'Schedule GPUs:
    clusters containing different types of GPUs').

    Fix: Add nodeSelector nvidia.com/gpu.present: 'true', or a required nodeAffinity on
    nvidia.com/gpu.product (or your cloud's accelerator label).
    """
    for template in _gpu_templates(objects):
        if not any(_GPU_NODE_LABEL.search(key) for key in _node_keys(template.spec)):
            yield Hit(
                template.obj,
                f"{template.role or 'pod'} requests GPUs but is not constrained to GPU nodes",
                template.path,
            )


@REGISTRY.rule(
    "SG103",
    "gpu-toleration",
    Severity.WARNING,
    "https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/",
)
def gpu_toleration(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A GPU pod that does not tolerate the nvidia.com/gpu taint GPU nodes usually carry.

    GPU node pools are tainted (nvidia.com/gpu:NoSchedule on GKE, AKS and the GPU Operator's
    recommended setup) so that ordinary pods stay off expensive nodes; a GPU pod without the
    toleration stays Pending unless an admission plugin adds it.

    Fix: Add tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}].
    """
    for template in _gpu_templates(objects):
        tolerations = template.spec.get("tolerations")
        ok = False
        for tol in tolerations if isinstance(tolerations, list) else []:
            if not isinstance(tol, dict):
                continue
            key = tol.get("key")
            if (key is None and tol.get("operator") == "Exists") or (
                isinstance(key, str) and "gpu" in key.lower()
            ):
                ok = True
        if not ok:
            yield Hit(
                template.obj, "requests GPUs but has no toleration for GPU taints", template.path
            )


@REGISTRY.rule(
    "SG104",
    "limit-below-request",
    Severity.ERROR,
    "https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/",
)
def limit_below_request(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A container whose limit for a resource (memory, cpu, ...) is below its request.

    The API server rejects a request above its limit ('must be less than or equal to limit'); for
    memory it is also a mistake in intent: the pod is scheduled for the request and OOM-killed at
    the lower limit while loading weights.

    Fix: Raise the limit to at least the request (for model servers, memory limit = request).
    """
    for template, path, who, name, wanted, limits in _requests(objects, extended=False):
        if name not in limits:
            continue
        low, high = parse_quantity(wanted), parse_quantity(limits[name])
        if low is not None and high is not None and high < low:
            yield Hit(
                template.obj,
                f"{who}: {name} limit {limits[name]} is below its request {wanted}",
                (*path, "resources", "limits", str(name)),
            )


_PARALLEL_FLAGS = {
    "--tensor-parallel-size": "tp", "-tp": "tp", "--tp": "tp", "--tp-size": "tp",
    "--num-shard": "tp", "--pipeline-parallel-size": "pp", "-pp": "pp", "--pp-size": "pp",
}  # fmt: skip


def parallelism(container: dict[str, Any]) -> tuple[int, int, bool]:
    """(tensor-parallel, pipeline-parallel, distributed over Ray) from command and args."""
    words = command_words(container)
    sizes = {"tp": 1, "pp": 1}
    for index, word in enumerate(words):
        flag, _, value = word.partition("=")
        if flag in _PARALLEL_FLAGS:
            if not value and index + 1 < len(words):
                value = words[index + 1]
            if value.strip("'\"").isdigit():
                sizes[_PARALLEL_FLAGS[flag]] = int(value.strip("'\""))
    ray = any("distributed-executor-backend" in w and "ray" in w for w in words) or (
        "--distributed-executor-backend" in words
        and words[words.index("--distributed-executor-backend") + 1 :][:1] == ["ray"]
    )
    return sizes["tp"], sizes["pp"], ray


@REGISTRY.rule(
    "SG105",
    "tensor-parallel-exceeds-gpus",
    Severity.ERROR,
    "https://docs.vllm.ai/en/latest/serving/distributed_serving.html",
)
def tensor_parallel(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """--tensor-parallel-size (x --pipeline-parallel-size) above the GPUs the container gets.

    vLLM, SGLang and TGI start one worker per GPU of the parallel group; with fewer GPUs visible the
    server fails at start-up after minutes of image pull, or waits forever for Ray placement (vLLM
    docs 'Distributed inference and serving').

    Fix: Request as many GPUs as tensor-parallel x pipeline-parallel size, or lower the sizes.
    """
    for template, path, container in all_containers(objects):
        if template.obj.kind in ("LeaderWorkerSet", "RayService", "RayCluster", "RayJob"):
            continue  # the group spans pods
        tp, pp, ray = parallelism(container)
        gpus = gpu_count(container)
        if tp * pp > 1 and not ray and gpus < tp * pp:
            yield Hit(
                template.obj,
                f"{_who(container)} runs tensor-parallel {tp} x pipeline-parallel {pp} on "
                f"{gpus} GPU(s)",
                path,
            )


def _shm_mounted(template: PodTemplate, container: dict[str, Any]) -> bool:
    memory_volumes = {
        str(v.get("name"))
        for v in as_list(template.spec.get("volumes"))
        if isinstance(v, dict) and get(v, "emptyDir", "medium") == "Memory"
    }
    return any(
        isinstance(m, dict)
        and m.get("mountPath") == "/dev/shm"
        and str(m.get("name")) in memory_volumes
        for m in as_list(container.get("volumeMounts"))
    )


@REGISTRY.rule(
    "SG106",
    "tensor-parallel-without-shm",
    Severity.WARNING,
    "https://docs.vllm.ai/en/latest/deployment/k8s.html",
)
def tensor_parallel_shm(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A multi-GPU (tensor-parallel) server without a memory-backed /dev/shm.

    Tensor-parallel workers exchange tensors through NCCL and PyTorch shared memory; a pod's default
    /dev/shm is 64 MiB, which crashes or slows multi-GPU inference. vLLM's Kubernetes guide mounts
    an emptyDir with medium: Memory at /dev/shm.

    Fix: Add a volume {name: shm, emptyDir: {medium: Memory, sizeLimit: 2Gi}} mounted at /dev/shm.
    """
    for template, path, container in all_containers(objects):
        tp, _, _ = parallelism(container)
        if tp > 1 and not _shm_mounted(template, container):
            yield Hit(
                template.obj,
                f"{_who(container)} runs tensor-parallel {tp} without a memory-backed /dev/shm",
                path,
            )
