"""The goal of the real node: a simulator pod requesting ``nvidia.com/gpu: 1`` is scheduled
on it, runs, becomes Ready and answers HTTP from the host via its pod IP and via a
ClusterIP Service; in-cluster DNS resolves the Service; ``down`` leaves nothing behind.

Boots a whole local cluster (minutes on a cold cache). Needs root and the node's Debian
packages (skipped with the reason otherwise); builds the binaries first when the cache lacks
them (tests/e2e/conftest.py). A servegate node already running on this host (its bridge
exists) makes it skip: `make test` runs tests/e2e/node in a phase of its own, before any
other tier starts a cluster.
"""

from __future__ import annotations

import gc
import ipaddress
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servegate.cluster.api import Api
from servegate.cluster.local import LocalCluster
from servegate.cluster.node import images
from servegate.cluster.node.layout import BRIDGE, NodeSpec
from servegate.cluster.node.net import link_exists
from servegate.cluster.node.runtime import find_leftovers

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    # LocalCluster.up leaves keep-alive API connections to the garbage collector (reported
    # to its owner); that is not what this test checks.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
NS = "sg-node-e2e"
NAME = "g2e2e"


def _get(url: str) -> tuple[int, bytes]:
    # Only pod-network and Service addresses are ever used here.
    assert ipaddress.ip_address(url.split("/")[2].split(":")[0]).is_private
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read()


def _wait(what: str, check: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def cluster(local_binaries: None) -> Iterator[tuple[LocalCluster, Api]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if link_exists(BRIDGE):
        pytest.skip(f"{BRIDGE} exists: a servegate node already runs on this host")
    lc = LocalCluster(name=NAME, slot=8, log=lambda _m: None)
    state = lc.state / "node"
    try:
        lc.up(node=True, allow_build=False)
        api = lc._api()
        yield lc, api
        api.close()
    finally:
        lc.down()
        gc.collect()  # let the leaked connections be reported here, under this module's filter
        assert find_leftovers(state) == []


def _pod(name: str, image: str, args: list[str], gpu: bool, restart: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "args": args,
    }
    if gpu:
        container["resources"] = {"limits": {"nvidia.com/gpu": 1}}
        container["ports"] = [{"containerPort": 8000}]
        container["readinessProbe"] = {
            "httpGet": {"path": "/health", "port": 8000},
            "periodSeconds": 1,
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {"containers": [container], "restartPolicy": restart},
    }


def _ready(pod: dict[str, Any]) -> bool:
    conds = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def test_gpu_sim_pod_runs_and_answers(cluster: tuple[LocalCluster, Api]) -> None:
    _, api = cluster
    spec = NodeSpec()
    node = api.get(f"/api/v1/nodes/{spec.name}")
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == str(spec.gpus.count)
    assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == spec.gpus.product

    api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    pod = _pod("sim", images.SIM, ["--port", "8000"], gpu=True, restart="Always")
    api.create(f"/api/v1/namespaces/{NS}/pods", pod)
    api.create(
        f"/api/v1/namespaces/{NS}/services",
        {
            "metadata": {"name": "sim"},
            "spec": {"selector": {"app": "sim"}, "ports": [{"port": 80, "targetPort": 8000}]},
        },
    )
    live = _wait(
        "sim pod Ready",
        lambda: (p := api.get(f"/api/v1/namespaces/{NS}/pods/sim")) and _ready(p) and p,
    )
    assert live["spec"]["nodeName"] == spec.name
    pod_ip = live["status"]["podIP"]
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(spec.pod_cidr)

    status, body = _get(f"http://{pod_ip}:8000/v1/models")
    assert status == 200 and json.loads(body)["object"] == "list"
    cluster_ip = api.get(f"/api/v1/namespaces/{NS}/services/sim")["spec"]["clusterIP"]
    status, body = _wait("Service answers", lambda: _try(f"http://{cluster_ip}/v1/models"), 60)
    assert status == 200

    lookup = _pod("dns", images.PROBE, ["lookup", f"sim.{NS}.svc.cluster.local"], False, "Never")
    api.create(f"/api/v1/namespaces/{NS}/pods", lookup)
    phase = _wait(
        "DNS probe to finish",
        lambda: (
            api.get(f"/api/v1/namespaces/{NS}/pods/dns")["status"].get("phase")
            in ("Succeeded", "Failed")
            and api.get(f"/api/v1/namespaces/{NS}/pods/dns")["status"]["phase"]
        ),
    )
    assert phase == "Succeeded"


def _try(url: str) -> tuple[int, bytes] | None:
    try:
        return _get(url)
    except OSError:
        return None


def test_state_dir_is_ours(cluster: tuple[LocalCluster, Api]) -> None:
    lc, _ = cluster
    node_dir = Path(lc.state / "node")
    assert (node_dir / "ctd" / "ctd.sock").is_socket()
