"""Model cold start on the cluster: create one serving pod, time it to its first streamed token.

The pod is the vllm-deployment unit's pod template, created bare (no Deployment, so nothing
recreates it and each sample starts from nothing), with the simulator told to download the
model into its cache directory unless the model is already there. The clock starts just before
the create call (the Pod's creationTimestamp has one-second resolution; it is kept beside) and
stops when the first content chunk of a streamed chat answer arrives, asked of the pod directly
every 50 ms, so readiness-probe periods do not quantise the figure.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from servegate.checks.patterns.storage import remove_host_dirs
from servegate.errors import UserError
from servegate.k8s.client import Cluster
from servegate.k8s.deploy import namespace_secrets, per_run_names
from servegate.k8s.scope import RunScope
from servegate.redact import scrub
from servegate.wait import wait_for

CACHE_MOUNT = "/root/.cache/huggingface"  # the unit's model-cache mount (vLLM's HF cache)
CACHE_ROOT = Path("/var/tmp/servegate-model-cache")  # host directories of persistent caches
# Developer option: run the simulator from this source tree (mounted over the image's copy),
# for a local cluster whose image was built before `servegate sim --model-cache` existed.
DEV_SOURCE_ENV = "SERVEGATE_DEV_SIM_SOURCE"
POLL_S = 0.05
STATUS_EVERY = 20  # polls between reads of the pod's state once it has an IP (about 1 s)
_BAD_WAITING = ("ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "CreateContainerError")


@dataclass(frozen=True)
class Sample:
    variant: str
    pod: str
    seconds: float  # create call -> first token (client clock)
    from_creation_timestamp_s: float  # creationTimestamp (whole seconds) -> first token
    to_pod_ip_s: float  # create call -> pod IP assigned (scheduling, sandbox, network)
    plan: str  # the simulator's own account: "model cache hit ..." or "... miss ..."


def namespace_only(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unit without its workload (the pods are created bare) and without its
    NetworkPolicy (the pod is asked directly from the host; isolation is another suite's)."""
    skip = {"Deployment", "ScaledObject", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    skip.add("NetworkPolicy")
    return [o for o in objects if o.get("kind") not in skip]


def deployment_template(unit: str, overlay: str, scope: RunScope) -> dict[str, Any]:
    """The pod template of ``unit``'s Deployment, with this run's names."""
    from servegate.k8s.render import render_unit, resolve_unit

    rendered = per_run_names(render_unit(resolve_unit(unit, overlay)), scope)
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    return dict(deployment["spec"]["template"])


def dev_source() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(volume, mount) putting ``$SERVEGATE_DEV_SIM_SOURCE``'s servegate package over the
    image's copy, or nothing when the variable is unset."""
    src = os.environ.get(DEV_SOURCE_ENV)
    if not src:
        return []
    pkg = Path(src).resolve() / "servegate"
    if not (pkg / "sim" / "modelcache.py").is_file():
        raise UserError(f"{DEV_SOURCE_ENV}={src}: no servegate/sim/modelcache.py there")
    volume = {"name": "dev-servegate", "hostPath": {"path": str(pkg), "type": "Directory"}}
    mount = {"name": "dev-servegate", "mountPath": "/opt/servegate/servegate", "readOnly": True}
    return [(volume, mount)]


@contextlib.contextmanager
def host_cache(namespace: str) -> Iterator[dict[str, Any]]:
    """A model cache that outlives its pod: a hostPath directory private to ``namespace``
    (under CACHE_ROOT), removed from the node (the local node is this host) afterwards."""
    path = CACHE_ROOT / namespace
    try:
        yield {"hostPath": {"path": str(path), "type": "DirectoryOrCreate"}}
    finally:
        remove_host_dirs(CACHE_ROOT, [namespace])


def cold_start_pod(
    template: dict[str, Any],
    name: str,
    cache_volume: dict[str, Any],
    sim_args: list[str],
    node_selector: dict[str, str] | None,
    extra_volumes: Sequence[tuple[dict[str, Any], dict[str, Any]]] = (),
) -> dict[str, Any]:
    """A bare Pod from a workload's pod ``template`` with the model cache volume replaced."""
    spec = copy.deepcopy(template["spec"])
    labels = dict(template.get("metadata", {}).get("labels", {}))
    labels["servegate.io/cold-start"] = name
    container = spec["containers"][0]
    container["args"] = [*container.get("args", []), *sim_args]
    volumes = [v for v in spec.get("volumes", []) if v["name"] != "model-cache"]
    spec["volumes"] = [{"name": "model-cache", **cache_volume}, *volumes]
    for volume, mount in extra_volumes:
        spec["volumes"].append(volume)
        container.setdefault("volumeMounts", []).append(mount)
    if node_selector:
        spec.setdefault("nodeSelector", {}).update(node_selector)
    spec["restartPolicy"] = "Never"  # a failed start is a failed sample, not a retry
    # Deleted as soon as its sample is taken: no grace period, and so no preStop pause (the
    # reference Deployment's drain; the API refuses a sleep not shorter than the grace period).
    spec["terminationGracePeriodSeconds"] = 0
    for c in spec["containers"]:
        lifecycle = c.get("lifecycle") or {}
        lifecycle.pop("preStop", None)
        if lifecycle:
            c["lifecycle"] = lifecycle
        else:
            c.pop("lifecycle", None)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def _first_token(ip: str, port: int, model: str) -> bool:
    """One streamed chat request; True when a content chunk arrived."""
    body = json.dumps(
        {
            "model": model,
            "max_tokens": 1,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    conn = http.client.HTTPConnection(ip, port, timeout=2.0)
    try:
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            resp.read()
            return False
        for raw in resp:
            line = raw.strip()
            if not line.startswith(b"data:") or line == b"data: [DONE]":
                continue
            doc = json.loads(line[5:])
            for choice in doc.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    return True
        return False
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        conn.close()


def _container_failure(pod: Any) -> str | None:
    for st in pod.status.container_statuses or []:
        waiting = st.state.waiting if st.state else None
        if waiting is not None and waiting.reason in _BAD_WAITING:
            return f"{waiting.reason}: {waiting.message or ''}".strip()
        term = st.state.terminated if st.state else None
        if term is not None:
            return f"container exited {term.exit_code} ({term.reason})"
    if pod.status.phase == "Failed":
        return f"pod failed: {pod.status.reason or ''}"
    return None


def _logs(core: Any, namespace: str, name: str) -> str:
    try:
        text = str(core.read_namespaced_pod_log(name, namespace, tail_lines=50))
    except Exception:  # the client raises ApiException or urllib3 errors; logs are a courtesy
        return ""
    return scrub(text, namespace_secrets(core, namespace))  # they go into messages


class _Start:
    """One pod's way to its first token, asked once per poll."""

    def __init__(self, core: Any, namespace: str, name: str, port: int, model: str) -> None:
        self.core, self.namespace, self.name = core, namespace, name
        self.port, self.model = port, model
        self.ip: str | None = None
        self.t_ip = 0.0
        self.polls = 0

    def first_token(self) -> float | None:
        """The client clock at the first token, or None while there is none yet."""
        # the pod's state every poll until it has an IP, then every second: a container that
        # exited (a bad flag, a crash) fails the sample at once, not at the deadline
        if self.ip is None or self.polls % STATUS_EVERY == 0:
            cur = self.core.read_namespaced_pod(self.name, self.namespace)
            failure = _container_failure(cur)
            if failure:
                raise UserError(f"{self.what()}: {failure} {self.log_tail(1)}")
            if self.ip is None and cur.status.pod_ip:
                self.ip, self.t_ip = cur.status.pod_ip, time.time()
        self.polls += 1
        if self.ip is not None and _first_token(self.ip, self.port, self.model):
            return time.time()
        return None

    def what(self) -> str:
        return f"cold-start pod {self.namespace}/{self.name}"

    def log_tail(self, lines: int) -> list[str]:
        return _logs(self.core, self.namespace, self.name).strip().splitlines()[-lines:]


def measure(
    cluster: Cluster,
    namespace: str,
    pod: dict[str, Any],
    variant: str,
    model: str,
    port: int = 8000,
    timeout_s: float = 120.0,
) -> Sample:
    """Create ``pod``, wait for its first token, delete it.

    Raises UserError naming the variant on failure (and, where the simulator does not know
    ``--model-cache``, how to get one that does)."""
    try:
        return _measure(cluster, namespace, pod, variant, model, port, timeout_s)
    except UserError as exc:
        hint = ""
        if "no such option" in str(exc).lower():
            hint = (
                " (the cluster's simulator image predates --model-cache: rebuild "
                f"it with `servegate cluster down` and `up`, or set {DEV_SOURCE_ENV})"
            )
        raise UserError(f"{variant}: {exc}{hint}") from None


def _measure(
    cluster: Cluster,
    namespace: str,
    pod: dict[str, Any],
    variant: str,
    model: str,
    port: int,
    timeout_s: float,
) -> Sample:
    name = pod["metadata"]["name"]
    core = cluster.core
    pods = cluster.dynamic.resources.get(api_version="v1", kind="Pod")  # takes plain dicts
    start = _Start(core, namespace, name, port, model)
    t0 = time.time()
    created = pods.create(body=pod, namespace=namespace)
    created_s = datetime.fromisoformat(str(created.metadata.creationTimestamp)).timestamp()
    try:
        t1 = wait_for(
            start.first_token,
            timeout_s,
            lambda: f"{start.what()}: no first token {start.log_tail(3)}",
            interval_s=POLL_S,
        )
        plan = next(
            (ln for ln in _logs(core, namespace, name).splitlines() if "model cache" in ln), ""
        )
        return Sample(
            variant=variant,
            pod=name,
            seconds=t1 - t0,
            from_creation_timestamp_s=t1 - created_s,
            to_pod_ip_s=start.t_ip - t0,
            plan=plan,
        )
    finally:
        delete_and_wait(core, namespace, name)


def delete_and_wait(core: Any, namespace: str, name: str, timeout_s: float = 60.0) -> None:
    """Delete the pod at once and wait until it is gone (its GPU is free for the next)."""
    from kubernetes.client.exceptions import ApiException

    try:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status == 404:
            return
        raise

    def gone() -> bool:
        try:
            core.read_namespaced_pod(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    wait_for(gone, timeout_s, f"pod {namespace}/{name} still exists after deletion", 0.2)


__all__ = [
    "CACHE_MOUNT",
    "CACHE_ROOT",
    "DEV_SOURCE_ENV",
    "Sample",
    "cold_start_pod",
    "delete_and_wait",
    "deployment_template",
    "dev_source",
    "host_cache",
    "measure",
    "namespace_only",
]
