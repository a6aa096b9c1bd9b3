"""Simulated GPUs on a kind cluster servegate made, the way its local node has them.

kind nodes have no GPU. The suites' reference units request ``nvidia.com/gpu`` and select
nodes by GPU feature-discovery labels, so servegate gives its kind nodes what its local real
node has: the fake device plugin (``images/fakegpu``) as a DaemonSet, which makes the
kubelet really allocate ``nvidia.com/gpu`` and MIG slices, and the labels GPU feature
discovery would put there. Each node is also labelled ``servegate.io/node=real``: it runs
containers. Everything lives in the cluster, so deleting the cluster removes it; the run
report's GPU figures on kind are those of this simulation (docs/kind.md).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import yaml

from servegate.cluster.node.images import FAKEGPU
from servegate.cluster.node.layout import DEVICE_PLUGINS_DIR, GpuSpec
from servegate.errors import UserError
from servegate.k8s.nodes import REAL_NODE_LABEL, REAL_NODE_VALUE
from servegate.wait import wait_for

NAME = "servegate-fakegpu"
NAMESPACE = "kube-system"
MANAGED = {"app.kubernetes.io/managed-by": "servegate", "app.kubernetes.io/name": NAME}


def daemonset(spec: GpuSpec) -> dict[str, Any]:
    """The device plugin on every node, with the kubelet's device-plugin directory mounted."""
    args = [f"--dir={DEVICE_PLUGINS_DIR}"]
    args += [f"--resource={name}={n}" for name, n in spec.resources().items()]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": MANAGED},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": MANAGED},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {
                            "name": "fakegpu",
                            "image": FAKEGPU,
                            "imagePullPolicy": "Never",
                            "args": args,
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "16Mi"},
                                "limits": {"memory": "64Mi"},
                            },
                            "volumeMounts": [
                                {"name": "device-plugins", "mountPath": str(DEVICE_PLUGINS_DIR)}
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "device-plugins",
                            "hostPath": {"path": str(DEVICE_PLUGINS_DIR), "type": "Directory"},
                        }
                    ],
                },
            },
        },
    }


def node_labels(spec: GpuSpec) -> dict[str, str]:
    return {**spec.labels(), REAL_NODE_LABEL: REAL_NODE_VALUE}


def install(kubectl: list[str], spec: GpuSpec, timeout_s: float = 120.0) -> None:
    """Label every node, start the plugin, wait until every node advertises every resource.

    ``kubectl`` is the command prefix with the cluster's kubeconfig and context."""
    labels = [f"{k}={v}" for k, v in node_labels(spec).items()]
    _run([*kubectl, "label", "nodes", "--all", "--overwrite", *labels], "labelling the nodes")
    doc = yaml.safe_dump(daemonset(spec))
    _run([*kubectl, "apply", "-f", "-"], "starting the fake GPU device plugin", doc)
    want = spec.resources()
    last = ["no node yet"]

    def advertised() -> bool:
        out = _run([*kubectl, "get", "nodes", "-o", "json"], "reading the nodes")
        missing = []
        for node in json.loads(out)["items"]:
            alloc = node.get("status", {}).get("allocatable", {})
            for res, n in want.items():
                if str(alloc.get(res)) != str(n):
                    missing.append(f"{node['metadata']['name']} {res}={alloc.get(res, 0)}")
        last[0] = ", ".join(missing)
        return not missing

    wait_for(
        advertised,
        timeout_s,
        lambda: f"the fake GPU device plugin did not register in time ({last[0]})",
        1.0,
    )


def _run(argv: list[str], what: str, stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"{what} on the kind cluster failed: {tail}")
    return proc.stdout
