"""SG206-SG208: images on moving tags and credentials written where anyone can read them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from servegate.lint.model import REGISTRY, Hit, K8sObject, Severity
from servegate.lint.workloads import (
    PodTemplate,
    all_containers,
    all_templates,
    as_dict,
    as_list,
    get,
    of_kind,
    same_namespace,
)

SECRETS_DOC = "https://kubernetes.io/docs/concepts/security/secrets-good-practices/"

# Tags that name a branch, a pull request or a channel, not a build (latest and no tag: SG201).
MOVING_TAGS = frozenset(
    {"main", "master", "nightly", "dev", "develop", "edge", "stable", "head", "pr", "canary"}
)
# A tag part that pins a build despite a moving prefix (nightly-2025-01-31, main-3f2c1ab, ...).
_PINNING_PART = re.compile(r"^(20\d\d(\d{4})?|\d{8}|v?\d+\.\d+(\.\d+)?|[0-9a-f]{7,40}|sha)$")


def moving_tag(image: str) -> str | None:
    """The moving tag of ``image`` (``:nightly``, ``:main-cuda``, ``:latest-gpu``), or None when
    the image is pinned by a digest or a version, or is SG201's (``:latest``, no tag)."""
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    tag = last.rsplit(":", 1)[1]
    parts = re.split(r"[-_.]", tag.lower())
    head, rest = parts[0], parts[1:]
    if head == "latest":
        return tag if rest else None
    if head in MOVING_TAGS and not any(
        _PINNING_PART.match(p) and re.search(r"\d", p) for p in rest
    ):
        return tag
    return None


@REGISTRY.rule(
    "SG206",
    "image-moving-tag",
    Severity.WARNING,
    "https://kubernetes.io/docs/concepts/containers/images/#image-names",
)
def moving(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """An image on a branch, pull-request or channel tag (:main, :nightly, :dev, :edge, :master,
    :stable, :pr-123, :latest-<variant>) rather than a release or a digest.

    These tags are re-pushed on every build: two replicas, or today's and tomorrow's rollout, run
    different server versions, and a node that pulls again picks up whatever was pushed last
    (Kubernetes docs 'Images': a tag can point at another image later, a digest cannot).

    Fix: Pin a release tag (vllm/vllm-openai:v0.11.0), or the image digest (@sha256:...) of the
    nightly you tested.
    """
    for template, path, container in all_containers(objects, init=True):
        image = container.get("image")
        tag = moving_tag(image) if isinstance(image, str) else None
        if tag:
            yield Hit(
                template.obj,
                f"image {image!r} uses the moving tag {tag!r}",
                (*path, "image"),
            )


# Names of settings that hold a credential (env names, ConfigMap keys, CLI flags).
_CREDENTIAL = re.compile(
    r"(TOKEN|API_?KEY|SECRET|SECRET_?KEY|ACCESS_?KEY|PRIVATE_?KEY|PASSWORD|PASSWD|"
    r"CREDENTIALS?|AUTH_?KEY)$",
    re.IGNORECASE,
)
# Shapes of real tokens, recognised wherever they appear.
_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(hf_[A-Za-z0-9]{30,}|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|"
    r"nvapi-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|"
    r"glpat-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,})"
)
# Values that stand for "no credential" or for one still to be filled in.
_PLACEHOLDER = re.compile(
    r"^(|empty|none|null|nil|fake|dummy|test|example|placeholder|changeme|change-?me|"
    r"not[-_]?(needed|used|required|set)|no[-_]?(key|token|auth)|x+|\*+|\.+|-+|"
    r"(your|my|replace|insert|enter|put|add)[-_ ].*|sk-(x+|fake|dummy|none|\.+)|token-abc123|"
    r"<.*>|\[.*\]|\{.*\}|%.*%|__.*__)$",
    re.IGNORECASE,
)


def literal_secret(value: Any) -> bool:
    """A value that is a credential itself: not empty, not a reference (``$(VAR)``, ``$VAR``),
    not a placeholder, a number, a boolean or a path."""
    if not isinstance(value, str):
        return False
    value = value.strip().strip("'\"")
    if _TOKEN_SHAPES.search(value):
        return True
    return not (
        len(value) < 6
        or "$" in value
        or " " in value
        or _PLACEHOLDER.match(value)
        or value.lower() in ("true", "false", "yes", "no")
        or re.fullmatch(r"[0-9.]+", value)
        or value.startswith(("/", "./", "~/", "file:", "http://", "https://"))
        # lower-case words joined by '-' name things (a Secret, a key) rather than being one
        or re.fullmatch(r"[a-z]+(-[a-z]+)+", value)
    )


def _words(item: str) -> list[str]:
    try:
        return shlex.split(item, comments=False, posix=True)
    except ValueError:
        return item.split()


def _flag_name(word: str) -> str:
    return word.lstrip("-").replace("-", "_")


def credentials_in_words(words: list[str]) -> Iterator[str]:
    """What gives a literal credential away in a command line: ``--api-key VALUE``,
    ``--hf-token=VALUE``, ``HF_TOKEN=VALUE`` (a shell assignment) or a token-shaped word."""
    skip = -1
    for index, word in enumerate(words):
        if index == skip:  # the value of a credential flag, reported with it
            continue
        if word.startswith("-") and len(word) > 2:
            flag, eq, value = word.partition("=")
            if _CREDENTIAL.search(_flag_name(flag)):
                if not eq:
                    value = words[index + 1] if index + 1 < len(words) else ""
                if literal_secret(value) and not value.startswith("-"):
                    skip = index if eq else index + 1
                    yield flag
                    continue
        elif "=" in word and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word):
            name, _, value = word.partition("=")
            if _CREDENTIAL.search(name) and literal_secret(value):
                yield name
                continue
        if _TOKEN_SHAPES.search(word):
            yield "a token"


@REGISTRY.rule("SG207", "credential-in-command", Severity.WARNING, SECRETS_DOC)
def credential_command(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A token, API key or password written as a literal in a container's command or args
    (--api-key sk-..., --hf-token hf_..., HF_TOKEN=... in a shell script).

    Command lines are stored in Git, in the workload object and every ReplicaSet, shown by kubectl
    describe and visible in the process list of the node; Kubernetes' good practices for Secrets
    say to keep credentials in Secrets, and the vLLM API key is then readable by anyone who can
    read the Deployment.

    Fix: Put the value in a Secret, expose it with env.valueFrom.secretKeyRef, and refer to it as
    $(VLLM_API_KEY) in args (or read the env var in the script).
    """
    for template, path, container in all_containers(objects, init=True):
        for key in ("command", "args"):
            items = [str(item) for item in as_list(container.get(key))]
            value_of_flag = False
            for index, item in enumerate(items):
                if value_of_flag:  # reported with its flag
                    value_of_flag = False
                    continue
                found = list(dict.fromkeys(credentials_in_words(_words(item))))
                if not found and item.startswith("-") and " " not in item:
                    # A flag and its value are often separate items: --api-key, sk-...
                    found = list(credentials_in_words(items[index : index + 2]))[:1]
                    value_of_flag = bool(found)
                if found:
                    yield Hit(
                        template.obj,
                        f"container {container.get('name')!r} passes a literal credential in "
                        f"{key}[{index}] ({', '.join(found)})",
                        (*path, key, index),
                    )


def _config_refs(template: PodTemplate) -> Iterator[tuple[str, str | None, str, str]]:
    """(ConfigMap name, key or None for all keys, env var name, how) for each ConfigMap a
    container loads as environment."""
    for _, container in template.containers(init=True):
        for source in as_list(container.get("envFrom")):
            name = get(source, "configMapRef", "name")
            if isinstance(name, str):
                yield name, None, "", f"envFrom of {template.obj.ref}"
        for var in as_list(container.get("env")):
            ref = get(var, "valueFrom", "configMapKeyRef")
            if isinstance(get(ref, "name"), str) and isinstance(get(ref, "key"), str):
                env_name = str(as_dict(var).get("name"))
                yield ref["name"], ref["key"], env_name, f"env {env_name} of {template.obj.ref}"


def _credential_keys(data: Mapping[str, Any], key: str | None, env_name: str) -> Iterator[str]:
    """Keys of ``data`` (all, or ``key`` read as ``env_name``) holding a literal credential."""
    keys = list(data) if key is None else [key] if key in data else []
    for item in keys:
        value = data[item]
        named = _CREDENTIAL.search(str(item)) or _CREDENTIAL.search(env_name)
        shaped = isinstance(value, str) and _TOKEN_SHAPES.search(value)
        if (named and literal_secret(value)) or shaped:
            yield str(item)


@REGISTRY.rule("SG208", "credential-in-configmap", Severity.WARNING, SECRETS_DOC)
def credential_configmap(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A ConfigMap key such as HF_TOKEN or API_KEY with a literal value that a pod loads as
    environment (envFrom.configMapRef or valueFrom.configMapKeyRef).

    ConfigMaps are not meant for confidential data: they are not encrypted at rest, are readable
    with the wide 'view' role and are printed by kubectl describe (Kubernetes docs 'ConfigMaps'
    and 'Good practices for Kubernetes Secrets'); loading one with envFrom hides that a token sits
    in it.

    Fix: Move the key to a Secret and load it with envFrom.secretRef or
    valueFrom.secretKeyRef; keep only non-confidential settings in the ConfigMap.
    """
    configmaps = list(of_kind(objects, "ConfigMap"))
    if not configmaps:
        return
    loaded: dict[tuple[int, str], str] = {}
    for template in all_templates(objects):
        for name, key, env_name, how in _config_refs(template):
            for cm in configmaps:
                if cm.name != name or not same_namespace(cm, template.obj):
                    continue
                for item in _credential_keys(as_dict(cm.doc.get("data")), key, env_name):
                    loaded.setdefault((id(cm), item), how)
    for cm in configmaps:
        for item in as_dict(cm.doc.get("data")):
            reader = loaded.get((id(cm), str(item)))
            if reader is not None:
                yield Hit(
                    cm,
                    f"data.{item} holds a literal credential, loaded as environment by {reader}",
                    ("data", str(item)),
                )
