"""The simulated fleet: kwok's controller plus one fake Node object per fleet entry.

Nodes are created with their status (capacity, allocatable, GPU labels) in the POST: the API
server keeps a Node's status on create, and kwok's default stages then keep them Ready.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from servegate.cluster.api import Api
from servegate.cluster.binaries import Resolved
from servegate.cluster.network import LOOPBACK, Ports
from servegate.config.fleet import KWOK_ANNOTATION, Fleet, Pool, pod_cidrs

POOL_LABEL = "servegate.dev/pool"
FLEET_LABEL = "servegate.dev/fleet"


def node_manifest(
    fleet: Fleet, pool: Pool, index: int, cidr: str, kube_version: str
) -> dict[str, Any]:
    """The Node object of fake node ``index`` of ``pool``."""
    name = pool.node_name(index)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        POOL_LABEL: pool.name,
        FLEET_LABEL: fleet.name,
    }
    resources: dict[str, str] = {
        "cpu": pool.cpu,
        "memory": pool.memory,
        "pods": str(pool.pods),
        "ephemeral-storage": "1Ti",
    }
    if pool.gpu is not None:
        labels.update(pool.gpu.labels())
        resources.update({k: str(v) for k, v in pool.gpu.resources().items()})
    labels.update(pool.labels)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1],
                "node.alpha.kubernetes.io/ttl": "0",
            },
        },
        "spec": {
            "podCIDR": cidr,
            "podCIDRs": [cidr],
            "taints": [t.model_dump(exclude_defaults=False) for t in pool.taints],
        },
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {
                "kubeletVersion": kube_version,
                "kubeProxyVersion": kube_version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def node_manifests(fleet: Fleet, kube_version: str) -> list[dict[str, Any]]:
    """Every fake node of the fleet, with a distinct /24 each."""
    cidrs = iter(pod_cidrs(fleet))
    return [
        node_manifest(fleet, pool, i, next(cidrs), kube_version)
        for pool in fleet.pools
        for i in range(pool.count)
    ]


def create_nodes(api: Api, manifests: list[dict[str, Any]], workers: int = 8) -> int:
    """Create the Node objects concurrently; existing ones are left as they are."""
    if not manifests:
        return 0

    def one(obj: dict[str, Any]) -> None:
        api.create("/api/v1/nodes", obj)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, manifests))
    return len(manifests)


def kwok_argv(binary: Resolved, kubeconfig: Path, ports: Ports) -> list[str]:
    """kwok manages only nodes carrying our annotation, never the real node."""
    key, value = KWOK_ANNOTATION
    return [
        str(binary.path),
        f"--kubeconfig={kubeconfig}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={key}={value}",
        "--node-lease-duration-seconds=40",
        f"--server-address={LOOPBACK}:{ports.kwok}",
        # Anything that dials a fake node's kubelet (kubectl logs) reaches kwok on loopback.
        f"--node-ip={LOOPBACK}",
        f"--node-port={ports.kwok}",
    ]
