"""Model cold start on the cluster: create one serving pod, time it to its first streamed token.

The pod is the vllm-deployment unit's pod template, created bare (no Deployment, so nothing
recreates it and each sample starts from nothing), with the simulator told to download the
model into its cache directory unless the model is already there. The clock starts just before
the create call (the Pod's creationTimestamp has one-second resolution; it is kept beside) and
stops when the first content chunk of a streamed chat answer arrives, asked of the pod directly
every 50 ms, so readiness-probe periods do not quantise the figure.
"""

from __future__ import annotations

import copy
import http.client
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from servegate.errors import UserError

CACHE_MOUNT = "/root/.cache/huggingface"  # the unit's model-cache mount (vLLM's HF cache)
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
    spec["terminationGracePeriodSeconds"] = 0
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
        return str(core.read_namespaced_pod_log(name, namespace, tail_lines=50))
    except Exception:  # the client raises ApiException or urllib3 errors; logs are a courtesy
        return ""


def measure(
    cluster: Any,
    namespace: str,
    pod: dict[str, Any],
    variant: str,
    model: str,
    port: int = 8000,
    timeout_s: float = 120.0,
) -> Sample:
    """Create ``pod``, wait for its first token, delete it; raises UserError on failure.

    ``cluster``: servegate.k8s.client.Cluster."""
    name = pod["metadata"]["name"]
    core = cluster.core
    pods = cluster.dynamic.resources.get(api_version="v1", kind="Pod")  # takes plain dicts
    t0 = time.time()
    created = pods.create(body=pod, namespace=namespace)
    created_s = datetime.fromisoformat(str(created.metadata.creationTimestamp)).timestamp()
    try:
        deadline = time.monotonic() + timeout_s
        ip: str | None = None
        t_ip = 0.0
        polls = 0
        while time.monotonic() < deadline:
            # the pod's state every poll until it has an IP, then every second: a container
            # that exited (a bad flag, a crash) fails the sample at once, not at the deadline
            if ip is None or polls % STATUS_EVERY == 0:
                cur = core.read_namespaced_pod(name, namespace)
                failure = _container_failure(cur)
                if failure:
                    tail = _logs(core, namespace, name).strip().splitlines()[-1:]
                    raise UserError(f"cold-start pod {namespace}/{name}: {failure} {tail}")
                if ip is None and cur.status.pod_ip:
                    ip, t_ip = cur.status.pod_ip, time.time()
            polls += 1
            if ip is None:
                time.sleep(POLL_S)
                continue
            if _first_token(ip, port, model):
                t1 = time.time()
                break
            time.sleep(POLL_S)
        else:
            tail = _logs(core, namespace, name).strip().splitlines()[-3:]
            raise UserError(
                f"cold-start pod {namespace}/{name}: no token in {timeout_s:g} s {tail}"
            )
        plan = next(
            (ln for ln in _logs(core, namespace, name).splitlines() if "model cache" in ln), ""
        )
        return Sample(
            variant=variant,
            pod=name,
            seconds=t1 - t0,
            from_creation_timestamp_s=t1 - created_s,
            to_pod_ip_s=t_ip - t0,
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
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            core.read_namespaced_pod(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.2)
    raise UserError(f"pod {namespace}/{name} still exists {timeout_s:g} s after deletion")


__all__ = ["CACHE_MOUNT", "Sample", "cold_start_pod", "delete_and_wait", "measure"]
