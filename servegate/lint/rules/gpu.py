"""SG1xx: GPUs and other resources of model-serving containers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from servegate.lint import platforms
from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity
from servegate.lint.workloads import (
    PodTemplate,
    accelerators,
    all_containers,
    all_templates,
    as_dict,
    as_list,
    command_words,
    get,
    is_extended_resource,
    is_gpu_resource,
    model_gigabytes,
    model_name,
    parallel_slots,
    parse_quantity,
    pod_templates,
    resources,
    template_accelerators,
)

K8S_GPU_DOC = "https://kubernetes.io/docs/tasks/manage-gpus/scheduling-gpus/"


def _gpu_templates(objects: Sequence[K8sObject]) -> Iterator[PodTemplate]:
    """Pod templates that get accelerators of any kind (GPUs, TPUs, Gaudi, Neuron)."""
    for template in all_templates(objects):
        if template_accelerators(template) > 0:
            yield template


def _accelerator_names(template: PodTemplate) -> set[str]:
    return {name for _, c in template.containers() for name in accelerators(c)}


def _devices(template: PodTemplate) -> str:
    """How messages name what a pod requests: ``GPUs``, or the resource names."""
    names = _accelerator_names(template)
    return "GPUs" if all(is_gpu_resource(n) for n in names) else "/".join(sorted(names))


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


def _node_selection(spec: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label key, values) a pod requires of its node: nodeSelector and the required node
    affinity's In/Exists/Gt/Lt expressions (NotIn and DoesNotExist select nothing)."""
    out = [(str(k), [str(v)]) for k, v in as_dict(spec.get("nodeSelector")).items()]
    terms = get(
        spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    )  # fmt: skip
    for term in as_list(terms):
        for expr in as_list(as_dict(term).get("matchExpressions")):
            if isinstance(expr, dict) and expr.get("operator") not in ("NotIn", "DoesNotExist"):
                out.append((str(expr.get("key")), [str(v) for v in as_list(expr.get("values"))]))
        if as_list(as_dict(term).get("matchFields")):
            out.append(("metadata.name", []))  # pinned to named nodes
    return out


def _node_keys(spec: dict[str, Any]) -> set[str]:
    return {key for key, _ in _node_selection(spec)}


def _selects_accelerator_nodes(template: PodTemplate) -> bool:
    """The pod names its nodes, selects accelerator node labels, or requests a fabric resource
    (RDMA, EFA) that only large accelerator nodes offer."""
    spec = template.spec
    if spec.get("nodeName"):
        return True
    for _, container in template.containers():
        requests, limits = resources(container)
        if any(platforms.names_fabric(str(name)) for name in {*requests, *limits}):
            return True
    return any(
        key == "metadata.name" or platforms.selects_accelerator_nodes(key, values)
        for key, values in _node_selection(spec)
    )


def _model_of(template: PodTemplate, container: Mapping[str, Any]) -> str | None:
    """The model a server container loads: from its command line, or the operator's field."""
    name = model_name(container)
    if name is None and template.obj.kind == "LLMInferenceService":
        uri = get(template.obj.doc, "spec", "model", "uri")
        name = uri.split("://", 1)[-1] if isinstance(uri, str) else None
    return name


def _weights_per_device(template: PodTemplate) -> tuple[str, float, int] | None:
    """(model, GB of weights, ranks) of the template's largest per-device load, from the model
    name's parameter count over tensor x pipeline parallel ranks; None when no container names
    a model with a count. Workers that only join a group (LeaderWorkerSet, Ray worker groups)
    carry the load their leader or head names."""
    own = _named_load(template)
    if own is not None or not template.role:
        return own
    loads = [load for t in pod_templates(template.obj) if (load := _named_load(t))]
    return max(loads, key=lambda load: load[1] / load[2], default=None)


def _named_load(template: PodTemplate) -> tuple[str, float, int] | None:
    best: tuple[str, float, int] | None = None
    for _, container in template.containers():
        if not accelerators(container):
            continue
        model = _model_of(template, container)
        size = model_gigabytes(model) if model else None
        if model is None or size is None:
            continue
        if template.obj.kind == "LLMInferenceService":
            tp, pp = _llmisvc_need(template)
            ranks = tp * pp
        else:
            group = template.group_size if template.obj.kind == "LeaderWorkerSet" else None
            ranks = parallel_plan(container, {"LWS_GROUP_SIZE": str(group)} if group else {}).size
        ranks = max(ranks, 1)
        if best is None or size / ranks > best[1] / best[2]:
            best = (model, size, ranks)
    return best


@REGISTRY.rule("SG102", "gpu-node-selection", Severity.WARNING, K8S_GPU_DOC)
def gpu_node_selection(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An accelerator pod free to land on devices that cannot serve it: a TPU or Neuron pod that
    selects no accelerator type, or a GPU pod whose model's weights per GPU outgrow the smallest
    GPU in common use (24 GB) and that selects no GPU model.

    Clusters mix GPU models; a model sized for an 80 GB GPU loads and then fails on a 24 GB L4 or
    A10G (vLLM stops with no memory left for the KV cache). The weights per GPU are the parameter
    count in the model's name at its precision, over tensor x pipeline parallel ranks, against 90 %
    of the device (vLLM's default --gpu-memory-utilization). GKE requires TPU pods to select the
    TPU type and topology, and Neuron models are compiled for one target. GPU Feature Discovery
    labels nodes with nvidia.com/gpu.product and nvidia.com/gpu.memory, and each cloud labels its
    accelerator pools (Kubernetes docs 'Schedule GPUs: clusters containing different types of
    GPUs'); the labels and sizes recognised are in servegate/lint/platforms.yaml.

    Fix: Require the GPU model or memory (nodeAffinity on nvidia.com/gpu.product or
    nvidia.com/gpu.memory, or your platform's accelerator or node-pool label), or shard the
    model over more GPUs.
    """
    for template in _gpu_templates(objects):
        if _selects_accelerator_nodes(template):
            continue
        names = _accelerator_names(template)
        always = sorted(n for n in names if platforms.selection(n) == "always")
        if always:
            yield Hit(
                template.obj,
                f"{template.role or 'pod'} requests {'/'.join(always)} but selects no "
                "accelerator type or topology",
                template.path,
            )
            continue
        sized = [g for n in names if (g := platforms.smallest_usable_gb(n)) is not None]
        load = _weights_per_device(template) if sized else None
        if load is None:
            continue  # no model size to judge by: --advice reports the missing selection
        model, size, ranks = load
        limit = min(sized)
        if size / ranks > limit:
            over = f" over {ranks} GPUs" if ranks > 1 else ""
            smallest = round(limit / platforms.knowledge().usable_memory_fraction)
            yield Hit(
                template.obj,
                f"{model}: about {size / ranks:.0f} GB of weights per GPU ({size:.0f} GB{over}) "
                f"but no GPU model is selected, so it can land on a {smallest} GB GPU and fail "
                "to load",
                template.path,
            )


@REGISTRY.rule("SG109", "gpu-model-unpinned", Severity.INFO, K8S_GPU_DOC, advice=True)
def gpu_model_unpinned(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A GPU, TPU or Neuron pod that does not say which accelerator nodes it needs (nodeSelector or
    required affinity), where SG102 has no evidence that it cannot run on any of them.

    A pod that only requests nvidia.com/gpu runs on whatever GPU the scheduler finds; on a cluster
    that mixes GPU models its latency and cost change with the node it lands on, and a model whose
    size SG102 cannot read from its name may not fit (Kubernetes docs 'Schedule GPUs').

    Fix: Add nodeSelector nvidia.com/gpu.product (or nvidia.com/gpu.present: 'true'), or your
    platform's accelerator or node-pool label.
    """
    flagged = {(h.obj.file, h.obj.ref, h.path) for h in gpu_node_selection(objects)}
    for template in _gpu_templates(objects):
        if not any(platforms.selection(n) != "never" for n in _accelerator_names(template)):
            continue  # AMD, Intel, Gaudi pools are rarely mixed; MIG names its size
        if _selects_accelerator_nodes(template):
            continue
        if (template.obj.file, template.obj.ref, template.path) in flagged:
            continue
        what = _devices(template)
        nodes = "GPU" if what == "GPUs" else "accelerator"
        yield Hit(
            template.obj,
            f"{template.role or 'pod'} requests {what} but selects no {nodes} model",
            template.path,
        )


@REGISTRY.rule(
    "SG103",
    "gpu-toleration",
    Severity.WARNING,
    "https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/",
)
def gpu_toleration(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An accelerator pod that tolerates none of the taints its nodes carry on the selected
    platform (or the taints named with --node-taint), where the platform does not add the
    toleration itself.

    Accelerator pools are tainted by cluster policy so that ordinary pods stay off expensive nodes:
    EKS's guides taint NVIDIA and Neuron node groups, AKS's GPU pools are created with
    sku=gpu:NoSchedule; a pod without the toleration stays Pending unless an admission plugin adds
    it, as GKE's ExtendedResourceToleration does for pods requesting nvidia.com/gpu or
    google.com/tpu (Kubernetes docs 'Taints and Tolerations: example use cases'). Upstream
    Kubernetes taints no node, so with the generic platform only --node-taint taints are asked
    for. A toleration of any accelerator taint, or of a dedicated pool's own taint, counts; taints
    and platforms are listed in servegate/lint/platforms.yaml.

    Fix: Add tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}] (on AKS:
    key sku, value gpu), matching the taints of your accelerator nodes.
    """
    for template in _gpu_templates(objects):
        names = _accelerator_names(template)
        node_keys = _node_keys(template.spec)
        taints = platforms.taints_for(names, node_keys)
        if not taints:
            continue
        tolerations = as_list(template.spec.get("tolerations"))
        if any(
            isinstance(t, dict) and platforms.tolerates_accelerator_taint(t) for t in tolerations
        ):
            continue
        if platforms.adds_toleration(names, node_keys):
            continue
        what = _devices(template)
        yield Hit(
            template.obj,
            f"requests {what} but tolerates none of its nodes' taints ({', '.join(taints)})",
            template.path,
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
    "--nnodes": "nodes",
}  # fmt: skip
_VARIABLE = re.compile(r"\$\((\w+)\)|\$\{(\w+)\}|\$(\w+)")
# Entry points that start a Ray cluster node, which vLLM then spreads its workers over.
_RAY_WORDS = ("multi-node-serving.sh", "ray_cluster_size", "--ray_address")


@dataclass(frozen=True)
class Parallel:
    """A server's parallel layout from its command line."""

    tp: int = 1
    pp: int = 1
    ray: bool = False  # the workers are placed by Ray, possibly on other pods
    nodes: int = 1  # --nnodes: the group spans this many pods (0: a value not known statically)

    @property
    def size(self) -> int:
        return self.tp * self.pp


def _substitute(word: str, env: Mapping[str, str]) -> str:
    """Expand $(VAR) (Kubernetes) and $VAR/${VAR} (shell) from known values."""

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return env.get(name, match.group(0))

    return _VARIABLE.sub(value, word) if "$" in word else word


def _env(container: Mapping[str, Any], extra: Mapping[str, str]) -> dict[str, str]:
    out = dict(extra)
    for var in as_list(container.get("env")):
        if isinstance(var, dict) and isinstance(var.get("name"), str) and "value" in var:
            out[var["name"]] = str(var["value"])
    return out


def parallel_plan(container: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> Parallel:
    """Tensor-, pipeline-parallel sizes, Ray placement and node count from command and args;
    ``extra`` gives values of variables the controller injects (LWS_GROUP_SIZE)."""
    env = _env(container, extra or {})
    words = [_substitute(w, env) for w in command_words(container)]
    sizes = {"tp": 1, "pp": 1, "nodes": 1}
    for index, word in enumerate(words):
        flag, _, value = word.partition("=")
        if flag.startswith("--"):
            flag = flag.replace("_", "-")  # vLLM and SGLang accept --pipeline_parallel_size
        if flag in _PARALLEL_FLAGS:
            if not value and index + 1 < len(words):
                value = words[index + 1]
            if value.strip("'\"").isdigit():
                sizes[_PARALLEL_FLAGS[flag]] = int(value.strip("'\""))
            elif _PARALLEL_FLAGS[flag] == "nodes":
                sizes["nodes"] = 0  # spread over an unknown number of pods
    backend = [w.replace("_", "-") for w in words]
    ray = any("distributed-executor-backend" in w and "ray" in w for w in backend) or (
        "--distributed-executor-backend" in backend
        and backend[backend.index("--distributed-executor-backend") + 1 :][:1] == ["ray"]
    )
    ray = ray or any(marker in w for w in words for marker in _RAY_WORDS)
    return Parallel(sizes["tp"], sizes["pp"], ray, sizes["nodes"])


def ranks_of_one_server(template: PodTemplate) -> bool:
    """The template's pods are the ranks of one server spread over pods (SGLang or vLLM
    --nnodes in a StatefulSet): rank 0 alone serves HTTP, and losing any rank stops the server.
    LeaderWorkerSets say so by their leader and worker templates instead."""
    if template.obj.kind == "LeaderWorkerSet":
        return False
    return any(parallel_plan(c).nodes != 1 for _, c in template.containers())


def parallelism(container: dict[str, Any]) -> tuple[int, int, bool]:
    """(tensor-parallel, pipeline-parallel, distributed over Ray) from command and args."""
    plan = parallel_plan(container)
    return plan.tp, plan.pp, plan.ray


def _slots(template: PodTemplate) -> Decimal:
    return sum((parallel_slots(c) for _, c in template.containers()), Decimal(0))


def _lws_capacity(obj: K8sObject) -> tuple[Decimal, int]:
    """(parallel slots of one LeaderWorkerSet group, pods per group): the leader pod plus
    size - 1 workers (size workers when there is no leader template)."""
    templates = {t.role: t for t in pod_templates(obj)}
    worker = templates.get("worker")
    size = worker.group_size if worker and worker.group_size else 1
    per_worker = _slots(worker) if worker else Decimal(0)
    leader = templates.get("leader")
    if leader is None:
        return per_worker * size, size
    return _slots(leader) + per_worker * (size - 1), size


def _named(devices: Mapping[str, Decimal]) -> str:
    return " + ".join(f"{count.normalize():f} {name}" for name, count in sorted(devices.items()))


def _multi_node(template: PodTemplate) -> bool:
    """Objects whose server spans pods the operator wires up (KServe multi-node workerSpec,
    LLMInferenceService worker): the layout lives in the operator's fields, not the args."""
    obj = template.obj
    if obj.kind == "InferenceService":
        return isinstance(get(obj.doc, "spec", "predictor", "workerSpec"), dict)
    if obj.kind == "LLMInferenceService":
        stage = template.role.split("-")[0] if template.role.startswith("prefill") else ""
        base = get(obj.doc, "spec", stage) if stage else get(obj.doc, "spec")
        return isinstance(as_dict(base).get("worker"), dict)
    return False


def _llmisvc_need(template: PodTemplate) -> tuple[int, int]:
    """(tensor, pipeline) of an LLMInferenceService stage from spec[.prefill].parallelism."""
    stage = ("prefill",) if template.role.startswith("prefill") else ()
    layout = as_dict(get(template.obj.doc, "spec", *stage, "parallelism"))
    sizes = []
    for key in ("tensor", "pipeline"):
        value = layout.get(key)
        sizes.append(value if isinstance(value, int) and not isinstance(value, bool) else 1)
    return sizes[0], sizes[1]


@REGISTRY.rule(
    "SG105",
    "tensor-parallel-exceeds-gpus",
    Severity.ERROR,
    "https://docs.vllm.ai/en/latest/serving/distributed_serving.html",
)
def tensor_parallel(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """--tensor-parallel-size (x --pipeline-parallel-size) above the accelerators (GPUs, TPU chips,
    Gaudi cards, NeuronCores) the container, or its multi-node group, gets.

    vLLM, SGLang and TGI start one worker per accelerator of the parallel group; with fewer visible
    the server fails at start-up after minutes of image pull, or waits forever for Ray placement
    (vLLM docs 'Distributed inference and serving'). A group spread over pods (SGLang or vLLM
    --nnodes, a LeaderWorkerSet of size N running Ray) needs the product across its pods; a
    container that names no accelerator resource is not judged (it may get devices another way).

    Fix: Request as many accelerators as tensor-parallel x pipeline-parallel size (per pod:
    divided by --nnodes; per LeaderWorkerSet group: leader + workers), or lower the sizes.
    """
    for template, path, container in all_containers(objects):
        if template.obj.kind in ("RayService", "RayCluster", "RayJob", "RayClusterFleet"):
            continue  # Ray places the workers over its worker groups
        devices = accelerators(container)
        if not devices or _multi_node(template):
            continue  # no accelerator named: no guess; operator-wired groups span pods
        group = template.group_size if template.obj.kind == "LeaderWorkerSet" else None
        extra = {"LWS_GROUP_SIZE": str(group)} if group else {}
        if template.obj.kind == "LLMInferenceService":
            tp, pp = _llmisvc_need(template)
            plan = Parallel(tp, pp)
        else:
            plan = parallel_plan(container, extra)
        if plan.size <= 1 or plan.nodes == 0:
            continue  # nothing parallel, or spread over a number of pods set at run time
        slots = parallel_slots(container)
        who = _who(container)
        if plan.nodes > 1:
            per_pod = math.ceil(plan.size / plan.nodes)
            if slots < per_pod:
                yield Hit(
                    template.obj,
                    f"{who} runs tensor-parallel {plan.tp} x pipeline-parallel {plan.pp} over "
                    f"{plan.nodes} nodes ({per_pod} per pod) on {_named(devices)}",
                    path,
                )
        elif group and group > 1:
            capacity, size = _lws_capacity(template.obj)
            if capacity < plan.size:
                yield Hit(
                    template.obj,
                    f"{who} runs tensor-parallel {plan.tp} x pipeline-parallel {plan.pp} on a "
                    f"group of {size} pods with {capacity.normalize():f} accelerator(s) in all",
                    path,
                )
        elif not plan.ray and slots < plan.size:
            unit = "GPU(s)" if all(is_gpu_resource(n) for n in devices) else None
            on = f"{slots.normalize():f} {unit}" if unit else _named(devices)
            yield Hit(
                template.obj,
                f"{who} runs tensor-parallel {plan.tp} x pipeline-parallel {plan.pp} on {on}",
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
