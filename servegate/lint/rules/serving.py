"""SG2xx: images and probes of model servers (start-up takes minutes, not seconds)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity
from servegate.lint.rules.gpu import ranks_of_one_server
from servegate.lint.workloads import (
    CONTROLLER_PROBED_KINDS,
    PodTemplate,
    all_containers,
    as_dict,
    is_model_server,
    model_gigabytes,
    model_name,
    receives_requests,
)

PROBES_DOC = "https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/"


def image_unpinned(image: str) -> bool:
    """True for ``:latest`` or no tag at all; a digest pins the image whatever the tag."""
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


@REGISTRY.rule(
    "SG201",
    "image-unpinned",
    Severity.WARNING,
    "https://kubernetes.io/docs/concepts/containers/images/#updating-images",
)
def unpinned(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An image with the :latest tag or no tag (unless imagePullPolicy is Never: an image loaded
    onto the nodes by hand).

    A moving tag makes two replicas (or two nights of a benchmark) run different server versions,
    and imagePullPolicy defaults to Always for :latest, so every restart pulls a multi-GB serving
    image (Kubernetes docs 'Images: updating images').

    Fix: Pin a released version tag (vllm/vllm-openai:v0.11.0), ideally with its @sha256 digest.
    """
    for template, path, container in all_containers(objects, init=True):
        image = container.get("image")
        if container.get("imagePullPolicy") == "Never":
            continue  # loaded onto the nodes by hand (kind load): no registry tag to pin
        if isinstance(image, str) and image_unpinned(image):
            yield Hit(template.obj, f"image {image!r} is not pinned", (*path, "image"))


def _model_servers(
    objects: Sequence[K8sObject],
) -> Iterator[tuple[PodTemplate, Path_, dict[str, Any]]]:
    """Model-server containers outside kinds whose controller adds the probes."""
    for template, path, container in all_containers(objects):
        if template.obj.kind in CONTROLLER_PROBED_KINDS:
            continue
        if is_model_server(template, container):
            yield template, path, container


def _probes(objects: Sequence[K8sObject], what: str, absent: tuple[str, ...]) -> Iterator[Hit]:
    """A hit for each model-server container that has none of the probes in ``absent``, in pods
    that receive requests (not Jobs, not LeaderWorkerSet workers) and whose every pod serves
    (not the ranks of one server spread over a StatefulSet's pods, where only rank 0 has an
    HTTP port for a probe)."""
    for template, path, container in _model_servers(objects):
        if not receives_requests(template) or ranks_of_one_server(template):
            continue
        if not any(p in container for p in absent):
            yield Hit(template.obj, f"model server {container.get('name')!r} {what}", path)


@REGISTRY.rule("SG202", "model-server-no-readiness", Severity.WARNING, PROBES_DOC)
def no_readiness(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A model-server container without a readinessProbe (Jobs, LeaderWorkerSet workers and the
    ranks of a server spread over a StatefulSet's pods, which do not all serve, are not asked).

    Without readiness the Service routes requests to a pod that is still downloading or loading
    weights; clients get connection errors or 503s during every rollout and scale-up.

    Fix: Add readinessProbe: httpGet /health (vLLM, TGI) or /v2/health/ready (Triton) on the serving
    port.
    """
    return _probes(objects, "has no readinessProbe", absent=("readinessProbe",))


@REGISTRY.rule("SG203", "model-server-no-startup-probe", Severity.WARNING, PROBES_DOC, advice=True)
def no_startup(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A model-server container with neither a startupProbe nor a livenessProbe (Jobs,
    LeaderWorkerSet workers and the ranks of a multi-pod server are not asked).

    Without them a hung server (a wedged CUDA context, a deadlocked scheduler) keeps its pod and
    is never restarted; nothing fails at deploy time, which is why this is advice. Loading a
    model takes minutes, so the liveness probe needs a startupProbe with a generous
    failureThreshold in front of it.

    Fix: Add startupProbe: httpGet /health, periodSeconds 10, failureThreshold sized to the longest
    load (e.g. 90 for 15 minutes), then a livenessProbe.
    """
    return _probes(objects, "has no startupProbe", absent=("startupProbe", "livenessProbe"))


# Kubernetes probe defaults: initialDelaySeconds 0, periodSeconds 10, failureThreshold 3.
_PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "failureThreshold": 3}
# A liveness budget of 5 minutes covers downloading and loading a 7-8B model (about 16 GB at a
# few hundred MB/s, plus weight loading and CUDA graph capture); below it, a cold start of any
# LLM server is likely to be killed. A larger model named with its parameter count needs at
# least its weights' size at 1 GB/s (a fast local cache) plus a minute of start-up.
LOAD_BUDGET_SECONDS = 300
_STARTUP_SECONDS = 60
_LOAD_GB_PER_SECOND = 1.0


def load_seconds(container: dict[str, Any]) -> int:
    """The least liveness budget that lets this server load: 300 s, or more for a model whose
    name says it is larger (Qwen3-235B: 60 + 470 GB / 1 GB/s = 530 s)."""
    name = model_name(container)
    size = model_gigabytes(name) if name else None
    if size is None:
        return LOAD_BUDGET_SECONDS
    return max(LOAD_BUDGET_SECONDS, round(_STARTUP_SECONDS + size / _LOAD_GB_PER_SECOND))


def liveness_budget(probe: object) -> int:
    """Seconds from container start until the kubelet restarts a server that is still loading:
    initialDelaySeconds + failureThreshold x periodSeconds (Kubernetes defaults where unset)."""
    fields = as_dict(probe)
    value = {}
    for key, default in _PROBE_DEFAULTS.items():
        given = fields.get(key)
        whole = isinstance(given, int) and not isinstance(given, bool) and given >= 0
        value[key] = given if whole and isinstance(given, int) else default
    return value["initialDelaySeconds"] + value["failureThreshold"] * value["periodSeconds"]


@REGISTRY.rule("SG204", "liveness-without-startup", Severity.WARNING, PROBES_DOC)
def liveness_without_startup(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A model server with a livenessProbe but no startupProbe, whose liveness budget
    (initialDelaySeconds + failureThreshold x periodSeconds) is under 300 s, or under the load time
    of a larger model named with its parameter count.

    The liveness probe starts counting as soon as the container starts; while weights download and
    load (minutes for a 7B model, longer from remote storage) it fails, and once the budget is spent
    the kubelet kills and restarts the container, which starts loading again: a crash loop that
    never serves. Kubernetes docs: use a startup probe for slow-starting containers. A budget of
    300 s covers a 7-8B model; a model whose name gives its size (Qwen3-235B) needs 60 s plus its
    weights at 1 GB/s (2 bytes a parameter, less when quantised). Actual load times are not in the
    manifest, so this is a warning.

    Fix: Add a startupProbe on the same endpoint with failureThreshold x periodSeconds above the
    worst load time; liveness only starts after it succeeds.
    """
    for template, path, container in _model_servers(objects):
        probe = container.get("livenessProbe")
        if probe is None or "startupProbe" in container:
            continue
        budget, needed = liveness_budget(probe), load_seconds(container)
        if budget < needed:
            model = model_name(container)
            why = f"; {model} needs about {needed} s" if needed > LOAD_BUDGET_SECONDS else ""
            yield Hit(
                template.obj,
                f"model server {container.get('name')!r} has a livenessProbe but no startupProbe "
                f"(restarted after {budget} s of loading{why})",
                (*path, "livenessProbe"),
            )


_CREDENTIAL_NAME = re.compile(r"(TOKEN|API_?KEY|SECRET|PASSWORD|CREDENTIALS?)$", re.IGNORECASE)


@REGISTRY.rule(
    "SG205",
    "credential-in-plain-env",
    Severity.WARNING,
    "https://kubernetes.io/docs/concepts/security/secrets-good-practices/",
)
def credential_env(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A token or API key (HF_TOKEN, VLLM_API_KEY, ...) written as a literal env value.

    A literal value is stored in Git, in the Deployment object and in every ReplicaSet, and is
    readable by anyone who can read those; Kubernetes' good practices for Secrets say to reference a
    Secret instead. Gated model downloads make HF_TOKEN the usual victim.

    Fix: Move the value into a Secret (or a SealedSecret/ExternalSecret) and use
    valueFrom.secretKeyRef.
    """
    for template, path, container in all_containers(objects, init=True):
        env = container.get("env")
        for index, var in enumerate(env if isinstance(env, list) else []):
            if not isinstance(var, dict):
                continue
            name, value = var.get("name"), var.get("value")
            if isinstance(name, str) and _CREDENTIAL_NAME.search(name) and value:
                yield Hit(
                    template.obj,
                    f"container {container.get('name')!r} sets {name} as a literal value",
                    (*path, "env", index, "value"),
                )
