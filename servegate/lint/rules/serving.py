"""SG2xx: images and probes of model servers (start-up takes minutes, not seconds)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from servegate.lint.model import REGISTRY, Hit, K8sObject, Path_, Severity
from servegate.lint.workloads import CONTROLLER_PROBED_KINDS, all_containers, is_model_server

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
    """An image with the :latest tag or no tag.

    A moving tag makes two replicas (or two nights of a benchmark) run different server versions,
    and imagePullPolicy defaults to Always for :latest, so every restart pulls a multi-GB serving
    image (Kubernetes docs 'Images: updating images').

    Fix: Pin a released version tag (vllm/vllm-openai:v0.11.0), ideally with its @sha256 digest.
    """
    for template, path, container in all_containers(objects, init=True):
        image = container.get("image")
        if isinstance(image, str) and image_unpinned(image):
            yield Hit(template.obj, f"image {image!r} is not pinned", (*path, "image"))


def _probes(
    objects: Sequence[K8sObject],
    what: str,
    present: tuple[str, ...] = (),
    absent: tuple[str, ...] = (),
    at: Path_ = (),
) -> Iterator[Hit]:
    """A hit for each model-server container (outside kinds whose controller adds probes) that
    has every probe in ``present`` and none in ``absent``; ``at`` is appended to its path."""
    for template, path, container in all_containers(objects):
        if template.obj.kind in CONTROLLER_PROBED_KINDS or not is_model_server(template, container):
            continue
        if all(p in container for p in present) and not any(p in container for p in absent):
            yield Hit(template.obj, f"model server {container.get('name')!r} {what}", (*path, *at))


@REGISTRY.rule("SG202", "model-server-no-readiness", Severity.WARNING, PROBES_DOC)
def no_readiness(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A model-server container without a readinessProbe.

    Without readiness the Service routes requests to a pod that is still downloading or loading
    weights; clients get connection errors or 503s during every rollout and scale-up.

    Fix: Add readinessProbe: httpGet /health (vLLM, TGI) or /v2/health/ready (Triton) on the serving
    port.
    """
    return _probes(objects, "has no readinessProbe", absent=("readinessProbe",))


@REGISTRY.rule("SG203", "model-server-no-startup-probe", Severity.WARNING, PROBES_DOC)
def no_startup(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A model-server container with neither a startupProbe nor a livenessProbe.

    Loading a model takes minutes; a startupProbe with a generous failureThreshold covers that
    window and lets a liveness probe then catch a hung server.

    Fix: Add startupProbe: httpGet /health, periodSeconds 10, failureThreshold sized to the longest
    load (e.g. 90 for 15 minutes), then a livenessProbe.
    """
    return _probes(objects, "has no startupProbe", absent=("startupProbe", "livenessProbe"))


@REGISTRY.rule("SG204", "liveness-without-startup", Severity.ERROR, PROBES_DOC)
def liveness_without_startup(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A model server with a livenessProbe but no startupProbe.

    The liveness probe starts counting as soon as the container starts; while weights load (minutes
    for a 7B model, longer from remote storage) it fails, and the kubelet kills and restarts the
    container, which starts loading again: a crash loop that never serves. Kubernetes docs: use a
    startup probe for slow-starting containers.

    Fix: Add a startupProbe on the same endpoint with failureThreshold x periodSeconds above the
    worst load time; liveness only starts after it succeeds.
    """
    return _probes(
        objects,
        "has a livenessProbe but no startupProbe",
        present=("livenessProbe",),
        absent=("startupProbe",),
        at=("livenessProbe",),
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
