"""SG2xx: images and probes of model servers (start-up takes minutes, not seconds)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from servegate.lint.model import REGISTRY, Hit, K8sObject, Severity
from servegate.lint.workloads import CONTROLLER_PROBED_KINDS, all_templates, is_model_server

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
    "An image with the :latest tag or no tag.",
    "A moving tag makes two replicas (or two nights of a benchmark) run different server "
    "versions, and imagePullPolicy defaults to Always for :latest, so every restart pulls a "
    "multi-GB serving image (Kubernetes docs 'Images: updating images').",
    "Pin a released version tag (vllm/vllm-openai:v0.11.0), ideally with its @sha256 digest.",
    "https://kubernetes.io/docs/concepts/containers/images/#updating-images",
)
def unpinned(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    for template in all_templates(objects):
        for path, container in template.containers(init=True):
            image = container.get("image")
            if isinstance(image, str) and image_unpinned(image):
                yield Hit(template.obj, f"image {image!r} is not pinned", (*path, "image"))


def _model_containers(
    objects: Sequence[K8sObject],
) -> Iterator[tuple[K8sObject, tuple[str | int, ...], dict[str, object]]]:
    for template in all_templates(objects):
        if template.obj.kind in CONTROLLER_PROBED_KINDS:
            continue
        for path, container in template.containers():
            if is_model_server(template, container):
                yield template.obj, path, container


@REGISTRY.rule(
    "SG202",
    "model-server-no-readiness",
    Severity.WARNING,
    "A model-server container without a readinessProbe.",
    "Without readiness the Service routes requests to a pod that is still downloading or "
    "loading weights; clients get connection errors or 503s during every rollout and scale-up.",
    "Add readinessProbe: httpGet /health (vLLM, TGI) or /v2/health/ready (Triton) on the "
    "serving port.",
    PROBES_DOC,
)
def no_readiness(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    for obj, path, container in _model_containers(objects):
        if "readinessProbe" not in container:
            yield Hit(obj, f"model server {container.get('name')!r} has no readinessProbe", path)


@REGISTRY.rule(
    "SG203",
    "model-server-no-startup-probe",
    Severity.WARNING,
    "A model-server container with neither a startupProbe nor a livenessProbe.",
    "Loading a model takes minutes; a startupProbe with a generous failureThreshold covers "
    "that window and lets a liveness probe then catch a hung server.",
    "Add startupProbe: httpGet /health, periodSeconds 10, failureThreshold sized to the "
    "longest load (e.g. 90 for 15 minutes), then a livenessProbe.",
    PROBES_DOC,
)
def no_startup(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    for obj, path, container in _model_containers(objects):
        if "startupProbe" not in container and "livenessProbe" not in container:
            yield Hit(obj, f"model server {container.get('name')!r} has no startupProbe", path)


@REGISTRY.rule(
    "SG204",
    "liveness-without-startup",
    Severity.ERROR,
    "A model server with a livenessProbe but no startupProbe.",
    "The liveness probe starts counting as soon as the container starts; while weights load "
    "(minutes for a 7B model, longer from remote storage) it fails, and the kubelet kills and "
    "restarts the container, which starts loading again: a crash loop that never serves. "
    "Kubernetes docs: use a startup probe for slow-starting containers.",
    "Add a startupProbe on the same endpoint with failureThreshold x periodSeconds above the "
    "worst load time; liveness only starts after it succeeds.",
    PROBES_DOC,
)
def liveness_without_startup(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    for obj, path, container in _model_containers(objects):
        if "livenessProbe" in container and "startupProbe" not in container:
            yield Hit(
                obj,
                f"model server {container.get('name')!r} has a livenessProbe but no startupProbe",
                (*path, "livenessProbe"),
            )


_CREDENTIAL_NAME = re.compile(r"(TOKEN|API_?KEY|SECRET|PASSWORD|CREDENTIALS?)$", re.IGNORECASE)


@REGISTRY.rule(
    "SG205",
    "credential-in-plain-env",
    Severity.WARNING,
    "A token or API key (HF_TOKEN, VLLM_API_KEY, ...) written as a literal env value.",
    "A literal value is stored in Git, in the Deployment object and in every ReplicaSet, and "
    "is readable by anyone who can read those; Kubernetes' good practices for Secrets say to "
    "reference a Secret instead. Gated model downloads make HF_TOKEN the usual victim.",
    "Move the value into a Secret (or a SealedSecret/ExternalSecret) and use "
    "valueFrom.secretKeyRef.",
    "https://kubernetes.io/docs/concepts/security/secrets-good-practices/",
)
def credential_env(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    for template in all_templates(objects):
        for path, container in template.containers(init=True):
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
