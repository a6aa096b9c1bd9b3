"""Load-generator pods: a Locust master, its workers and a calibration, next to the endpoint.

On a cluster this machine cannot route into, load sent through ``kubectl port-forward`` goes
through one tunnel in the API server, which caps the rate and adds its own delay to every
timing. Here the whole generator runs as pods of the servegate image (its simulator image
also holds the load engine), in the run's namespace: the master pod writes the run directory
to a volume, a second container of that pod (``keeper``) outlives the master so the
directory can be read back over ``exec`` once the master has written its last file, and
the workers ship their records to the master (Locust messages), so nothing needs a route
from the cluster to this machine, nor any volume a cluster may not have.

This module only builds the objects and moves bytes; the argument lists come from the load
engine (servegate.load.runner) and the run is driven by servegate.harness.incluster.
"""

from __future__ import annotations

import base64
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.k8s.client import Cluster
from servegate.k8s.relay import node_affinity

LOAD_IMAGE = os.environ.get("SERVEGATE_LOAD_IMAGE", "servegate.local/sim:0.1.0")
"""The servegate image (images/sim); on a cluster that cannot run servegate.local images, one
its nodes can pull (SERVEGATE_LOAD_IMAGE)."""
SITE = "/opt/servegate"
LOCUSTFILE = f"{SITE}/servegate/load/locustfile.py"
RESULTS_DIR = "/results"
MASTER_PORT = 5557
ROLE_LABEL = "servegate.dev/load-role"  # master | worker | calibration
LOAD_RUN_LABEL = "servegate.dev/load-run"
WORKER_LABELS = {"role": "api-gateway"}
"""Workers are the endpoint's clients: the reference NetworkPolicy admits only this role."""
CALIBRATION_MARK = "--- servegate calibration ---"


@dataclass(frozen=True)
class Resources:
    """A worker pod's CPU and memory; one Locust worker uses at most one core."""

    cpu_request: str = "100m"
    cpu_limit: str = "1"
    memory_request: str = "128Mi"
    memory_limit: str = "1Gi"

    def spec(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


WORKER = Resources()
CALIBRATION = Resources(cpu_limit="2")
"""A calibration pod holds one worker, its master and a simulator: the worker still gets at
most one core (one process, one thread), the simulator the other."""
KEEPER = Resources("10m", "100m", "16Mi", "32Mi")
_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
_ENV = [{"name": "PYTHONUNBUFFERED", "value": "1"}, {"name": "HOME", "value": "/tmp"}]


def _container(name: str, command: list[str], resources: Resources) -> dict[str, Any]:
    return {
        "name": name,
        "image": LOAD_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": list(_ENV),
        "resources": resources.spec(),
        "securityContext": dict(_SECURITY),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def _pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    containers: list[dict[str, Any]],
    nodes: tuple[str, ...] | None,
    volumes: tuple[str, ...] = ("tmp",),
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 15,  # the master's SIGTERM handler writes its files
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": containers,
        "volumes": [{"name": v, "emptyDir": {}} for v in volumes],
    }
    if nodes:
        spec["affinity"] = node_affinity(nodes)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def locust(args: list[str]) -> list[str]:
    return ["python3", "-m", "locust", "-f", LOCUSTFILE, *args]


def master_pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    master_args: list[str],
    nodes: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The master (``master_args``: Locust's, writing to :data:`RESULTS_DIR`) and the keeper
    that holds the results volume until the run directory has been read back."""
    master = _container("master", locust(master_args), WORKER)
    master["ports"] = [{"name": "locust", "containerPort": MASTER_PORT}]
    master["volumeMounts"].append({"name": "results", "mountPath": RESULTS_DIR})
    keeper = _container("keeper", ["sleep", "infinity"], KEEPER)
    keeper["volumeMounts"].append({"name": "results", "mountPath": RESULTS_DIR})
    return _pod(
        name,
        namespace,
        {**labels, ROLE_LABEL: "master"},
        [master, keeper],
        nodes,
        ("tmp", "results"),
    )


def worker_pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    worker_name: str,
    worker_args: list[str],
    secret: str | None = None,
    secret_keys: tuple[str, ...] = (),
    nodes: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """One Locust worker process named ``worker_name`` (its records file is
    records-<worker_name>.jsonl.gz). ``secret_keys``: the variables, read from the Secret
    ``secret``, that the profile's ``${env:NAME}`` header references need."""
    c = _container("worker", locust(worker_args), WORKER)
    c["env"].append({"name": "SERVEGATE_WORKER_NAME", "value": worker_name})
    for key in secret_keys:
        c["env"].append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    return _pod(name, namespace, {**labels, **WORKER_LABELS, ROLE_LABEL: "worker"}, [c], nodes)


def calibration_pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    calibrate_args: list[str],
    nodes: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """``servegate calibrate`` with a simulator of its own, inside one pod; its log ends with
    :data:`CALIBRATION_MARK` and the calibration file."""
    out = "/tmp/calibration.json"
    script = (
        f'python3 -m servegate calibrate --no-pin --output {out} "$@" >&2'
        f" && echo '{CALIBRATION_MARK}' && cat {out}"
    )
    c = _container("calibrate", ["sh", "-c", script, "calibrate", *calibrate_args], CALIBRATION)
    return _pod(name, namespace, {**labels, ROLE_LABEL: "calibration"}, [c], nodes)


def env_secret(
    name: str, namespace: str, labels: dict[str, str], values: dict[str, str]
) -> dict[str, Any]:
    """The values of the variables the profile's headers refer to, for the workers."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": data,
    }


def calibration_text(log: str) -> str | None:
    """The calibration file from a calibration pod's log, or None when it wrote none."""
    _, mark, tail = log.rpartition(CALIBRATION_MARK)
    return (tail.strip() or None) if mark else None


# -- reading pods -------------------------------------------------------------------------


def container_state(pod: Any, container: str) -> tuple[str, int | None]:
    """("waiting" | "running" | "terminated", exit code when terminated) of one container."""
    for cs in pod.status.container_statuses or []:
        if cs.name == container and cs.state is not None:
            if cs.state.terminated is not None:
                return "terminated", int(cs.state.terminated.exit_code)
            if cs.state.running is not None:
                return "running", None
    return "waiting", None


def exec_output(
    cluster: Cluster, namespace: str, pod: str, container: str, argv: list[str], timeout_s: float
) -> str:
    """stdout of ``argv`` run in a container (text). Raises TimeoutError when it has not
    ended after ``timeout_s``; the exec's connection is always closed."""
    from kubernetes.stream import stream

    ws = stream(
        cluster.core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        container=container,
        command=argv,
        stdout=True,
        stderr=False,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    try:
        ws.run_forever(timeout=timeout_s)
        if ws.is_open():
            raise TimeoutError(f"{argv[0]} in {namespace}/{pod}: no end after {timeout_s:g} s")
        return str(ws.read_all())
    finally:
        ws.close()
        # websocket-client's close() leaves the socket open once the server has closed the
        # connection first (the command ended): close it here
        if getattr(ws, "sock", None) is not None:
            ws.sock.shutdown()


def pack_command(directory: str = RESULTS_DIR) -> list[str]:
    """What the keeper runs to send the run directory back: a gzipped tar, in base64 (the
    exec stream carries text)."""
    return ["sh", "-c", f"tar czf - -C {directory} . | base64 -w0"]


def unpack(text: str, dest: Path) -> list[str]:
    """Extract what :func:`pack_command` printed into ``dest``; the names of the regular
    files written. Only regular files and directories, inside ``dest`` (the tar module's
    ``data`` filter refuses links out, absolute names and devices)."""
    data = base64.b64decode(text.strip(), validate=True)
    written: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        tar.extractall(dest, members=members, filter="data")
        written = sorted(m.name.removeprefix("./") for m in members if m.isfile())
    return written


__all__ = [
    "LOAD_IMAGE",
    "MASTER_PORT",
    "RESULTS_DIR",
    "Resources",
    "calibration_pod",
    "calibration_text",
    "container_state",
    "env_secret",
    "exec_output",
    "master_pod",
    "pack_command",
    "unpack",
    "worker_pod",
]
