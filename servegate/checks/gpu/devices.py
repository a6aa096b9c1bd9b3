"""GPU allocation seen from inside the container: each pod sees exactly the devices it was
allocated, no two pods on a node see the same device, and a pod that asked for none sees none.

The API only says what a pod requested and where it runs; what it was *given* is decided by
the device plugin and the container runtime on the node. So the check runs probe pods on one
node that runs containers and asks each what it sees: on servegate's clusters the probe image
(``probe devices``: the NVIDIA_VISIBLE_DEVICES the device plugin set, as NVIDIA's does); on a
real GPU cluster an image with ``nvidia-smi`` (SERVEGATE_GPU_PROBE_IMAGE), whose ``-L`` lists
the GPUs the container can use. The oracle is the request in the pod spec, not anything
servegate computed.

A zero-GPU pod that sets ``NVIDIA_VISIBLE_DEVICES=all`` itself is the classic hole (with
NVIDIA's runtime it gets every GPU of the node); the meta-test uses it as the broken case.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal

from servegate.checks.gpu import model as m
from servegate.checks.gpu.model import Obj
from servegate.checks.gpu.namespace import GpuNamespace, read_state
from servegate.errors import MissingCapability, UserError
from servegate.k8s.relay import PROBE_IMAGE, node_affinity
from servegate.wait import poll

GPU = "nvidia.com/gpu"
NVIDIA_SMI_IMAGE = os.environ.get("SERVEGATE_GPU_PROBE_IMAGE", "")
"""On a real GPU cluster: an image with nvidia-smi (for example a CUDA base image)."""
WAIT_S = 180.0
ALL = ("all",)  # what a pod sees when NVIDIA_VISIBLE_DEVICES=all

_UUID = re.compile(r"\(UUID: ([^)]+)\)")


@dataclass(frozen=True)
class Seen:
    pod: str
    node: str
    requested: int
    phase: str
    devices: tuple[str, ...]  # device ids or UUIDs; ALL for every GPU of the node
    output: str


def parse_output(text: str) -> tuple[str, ...]:
    """The devices a probe reported: ``nvidia-smi -L`` UUIDs if present, else the ids of
    ``NVIDIA_VISIBLE_DEVICES`` (``all`` -> ALL; unset, empty, ``none``, ``void`` -> none)."""
    uuids = tuple(_UUID.findall(text))
    if uuids:
        return uuids
    for line in text.splitlines():
        if line.startswith("NVIDIA_VISIBLE_DEVICES="):
            value = line.split("=", 1)[1].strip()
            if value == "all":
                return ALL
            if value in ("", "none", "void"):
                return ()
            return tuple(v.strip() for v in value.split(",") if v.strip())
    return ()


def free_gpus(node: Obj, pods: list[Obj]) -> int:
    """Whole GPUs of ``node`` not requested by the (active) ``pods`` bound to it."""
    on_node = [p for p in pods if m.node_name_of(p) == m.name(node)]
    used = sum((m.pod_requests(p).get(GPU, Decimal(0)) for p in on_node), Decimal(0))
    return int(m.allocatable(node).get(GPU, Decimal(0)) - used)


def pick_node(nodes: list[Obj], pods: list[Obj], container_nodes: tuple[str, ...] | None) -> Obj:
    """A node that runs containers, advertises whole (not time-sliced) GPUs with at least one
    free, and has no taint other than the GPU one (a shared cluster's dedicated nodes are left
    alone); the one with the most free GPUs."""
    active = [p for p in pods if m.is_active(p)]
    best: tuple[int, Obj] | None = None
    for node in nodes:
        if container_nodes is not None and m.name(node) not in container_nodes:
            continue
        if m.is_simulated(node) or any(t.get("key") != GPU for t in m.hard_taints(node)):
            continue
        if m.time_sliced(node):  # replicas of one GPU: pods are meant to share it
            continue
        free = free_gpus(node, active)
        if free >= 1 and (best is None or free > best[0]):
            best = (free, node)
    if best is None:
        raise MissingCapability(
            f"no node that runs containers has a free whole GPU ({GPU}) and no other taint: "
            "the allocation cannot be seen from inside a container here"
        )
    return best[1]


def probe_pod(name: str, node: str, gpus: int, *, inject_all: bool = False) -> Obj:
    image = NVIDIA_SMI_IMAGE or PROBE_IMAGE
    command = (
        ["sh", "-c", "nvidia-smi -L; echo NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-}"]
        if NVIDIA_SMI_IMAGE
        else ["/probe", "devices"]
    )
    container: Obj = {
        "name": "probe",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"memory": "64Mi", **({GPU: gpus} if gpus else {})},
        },
    }
    if inject_all:
        container["env"] = [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"servegate.io/check": "gpu-devices"}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "affinity": node_affinity((node,)),
            "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [container],
        },
    }


def plan(free: int) -> list[tuple[str, int]]:
    """Pods and their GPU counts for ``free`` free GPUs: one with a single GPU, one with two
    when there is room (else a second single one), and one with none."""
    out = [("gpu-one", 1)]
    if free >= 3:
        out.append(("gpu-two", 2))
    elif free >= 2:
        out.append(("gpu-one-b", 1))
    out.append(("gpu-none", 0))
    return out


def devices_setup(
    ns: GpuNamespace, container_nodes: tuple[str, ...] | None, *, inject_all: bool = False
) -> list[Seen]:
    """Run the probe pods on one node and read what each saw."""
    state = read_state(ns.cluster)
    node = pick_node(state.nodes, state.pods, container_nodes)
    wanted = plan(free_gpus(node, [p for p in state.pods if m.is_active(p)]))
    for name, gpus in wanted:
        ns.create(probe_pod(name, m.name(node), gpus, inject_all=inject_all and gpus == 0))

    def finished() -> list[Obj] | None:
        pods = {m.name(p): p for p in ns.pods()}
        done = [pods[n] for n, _ in wanted if n in pods]
        phases = [p.get("status", {}).get("phase") for p in done]
        ok = len(done) == len(wanted) and all(ph in ("Succeeded", "Failed") for ph in phases)
        return done if ok else None

    done = poll(finished, WAIT_S, 0.5)
    if done is None:
        raise UserError(
            f"GPU device probes on {m.name(node)} did not finish in {WAIT_S:.0f}s: "
            + "; ".join(m.scheduling_message(p) or m.name(p) for p in ns.pods())
        )
    seen = []
    for (name, gpus), pod in zip(wanted, done, strict=True):
        text = ns.cluster.core.read_namespaced_pod_log(name, ns.name, container="probe")
        seen.append(
            Seen(
                name,
                m.name(node),
                gpus,
                str(pod["status"].get("phase")),
                parse_output(text),
                text,
            )
        )
    return seen


def assess_devices(seen: list[Seen]) -> list[str]:
    """Failures: a pod seeing more or fewer devices than it requested, every GPU, or a
    device another pod on its node also sees."""
    failures = []
    for s in seen:
        if s.phase != "Succeeded":
            failures.append(f"probe pod {s.pod} ended {s.phase}: {s.output.strip()[:200]!r}")
        elif s.devices == ALL:
            failures.append(
                f"pod {s.pod} requested {s.requested} GPU(s) but sees every GPU of node "
                f"{s.node} (NVIDIA_VISIBLE_DEVICES=all)"
            )
        elif len(s.devices) != s.requested:
            failures.append(
                f"pod {s.pod} requested {s.requested} GPU(s) but sees {len(s.devices)}: "
                f"{', '.join(s.devices) or 'none'}"
            )
    owner: dict[tuple[str, str], str] = {}
    for s in seen:
        if s.devices == ALL:
            continue
        for d in s.devices:
            other = owner.setdefault((s.node, d), s.pod)
            if other != s.pod:
                failures.append(f"GPU {d} on node {s.node} is visible in both {other} and {s.pod}")
    return failures
