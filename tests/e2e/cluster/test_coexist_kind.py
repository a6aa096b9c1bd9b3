"""The embedded local cluster and a kind cluster, one after the other and overlapping in both
orders: both keep working and the host is left as it was.

Starting Docker's daemon on a host usually sets the FORWARD policy to DROP and turns
ip_forward on, which cuts the local cluster's bridge (sgbr0) off from the host. servegate's
own dockerd is started so that it does neither (docs/kind.md); this test proves it with
traffic: a probe pod on each cluster answers HTTP from the host (the local one through its
ClusterIP, the way the suites reach it; the kind one through a port-forward) while the other
cluster comes up, runs and goes down, whichever started first. At the end the host's FORWARD
policy, ip_forward, sysctls, links, iptables rules, mounts and the paths Docker creates are
what they were.

Needs root, Docker's daemon (Debian's docker.io, or a daemon already running), the local
cluster's binaries (built first when the cache lacks them: tests/e2e/conftest.py) and Go (the
kind node image is built on first use, about two minutes). When a local cluster already runs
on this host it is only used for the "beside" test and never stopped; the sequence test then
needs the host to itself and is skipped. Named kind cluster ``sg-coexist``, local cluster
``kindco``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from servegate.cluster.hostcheck import snapshot
from servegate.cluster.kind import dockerhost
from servegate.cluster.kind.cluster import KindCluster
from servegate.cluster.local import LocalCluster
from servegate.cluster.node import images
from servegate.cluster.node.layout import BRIDGE
from servegate.cluster.node.net import link_exists
from servegate.k8s import endpoint
from servegate.k8s.render import kubectl_binary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
KIND_NAME = "sg-coexist"
LOCAL_NAME = "kindco"
NS = "sg-coexist-e2e"


def _probe_objects(node_selector: dict[str, str]) -> str:
    """A namespace, a probe pod answering HTTP on 8080, and its ClusterIP Service."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": NS, "labels": {"app": "probe"}},
        "spec": {
            "nodeSelector": node_selector,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "probe",
                    "image": images.PROBE,
                    "imagePullPolicy": "Never",
                    "args": ["serve", "--port", "8080"],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                }
            ],
        },
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "probe", "namespace": NS},
        "spec": {"selector": {"app": "probe"}, "ports": [{"port": 8080, "targetPort": 8080}]},
    }
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    return "\n".join(json.dumps(o) for o in (ns, pod, svc))


class Target:
    """One cluster under test, reached with the pinned kubectl."""

    def __init__(self, name: str, kubeconfig: Path, context: str, direct: bool) -> None:
        self.name, self.kubeconfig, self.context, self.direct = name, kubeconfig, context, direct

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        argv = [str(kubectl_binary()), "--kubeconfig", str(self.kubeconfig)]
        argv += ["--context", self.context, *args]
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, f"{self.name}: kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def deploy_probe(self, node_selector: dict[str, str]) -> None:
        self.kubectl("apply", "-f", "-", stdin=_probe_objects(node_selector))
        self.kubectl("-n", NS, "wait", "--for=condition=Ready", "pod/probe", "--timeout=150s")

    @contextmanager
    def url(self) -> Iterator[str]:
        if self.direct:  # the local cluster: the host routes to ClusterIPs through sgbr0
            ip = self.kubectl("-n", NS, "get", "svc", "probe", "-o", "jsonpath={.spec.clusterIP}")
            assert endpoint.wait_accepting(ip, 8080, 30), f"{self.name}: {ip}:8080 refuses"
            yield f"http://{ip}:8080"
            return
        with endpoint.port_forward(
            str(kubectl_binary()), str(self.kubeconfig), self.context, NS, "probe", 8080
        ) as url:
            yield url

    def answers(self) -> None:
        """The probe answers HTTP from the host."""
        with self.url() as url, urllib.request.urlopen(url + "/hostname", timeout=10) as resp:
            assert resp.status == 200 and resp.read().strip() == b"probe", self.name


def _host() -> dict[str, Any]:
    """What Docker could change on the host; links and rules only count when we are alone."""
    state = dockerhost.host_state()
    state.pop("links")
    state["docker0"] = Path("/sys/class/net/docker0").exists()
    state["dockerd"] = dockerhost.DockerHost().running()
    return state


@pytest.fixture(scope="module")
def ready(local_binaries: None) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if shutil.which("dockerd") is None and dockerhost.DockerHost().existing() is None:
        pytest.skip("no Docker: apt-get install docker.io (or run a Docker daemon)")


def _kind() -> KindCluster:
    return KindCluster(KIND_NAME)


def _kind_up() -> Target:
    up = _kind().up()
    return Target("kind", up.kubeconfig, up.context, direct=False)


def _kind_down_clean(before: dict[str, Any]) -> None:
    _kind().down()
    assert dockerhost.DockerHost().leftovers() == []
    assert _host() == before


class OwnLocal:
    """A local cluster this test starts and stops (named ``kindco``)."""

    def __init__(self) -> None:
        self.lc = LocalCluster(LOCAL_NAME, slot=9, log=lambda _m: None)

    def up(self) -> Target:
        res = self.lc.up(None, node=True, allow_build=False)
        target = Target("local", res.kubeconfig, res.context, direct=True)
        target.deploy_probe({"servegate.io/node": "real"})
        return target

    def down(self) -> None:
        self.lc.down()


def test_kind_and_local_one_after_the_other_and_overlapping(ready: None) -> None:
    """kind alone; local started beside it; kind stopped under local; kind started again
    beside local; local stopped under kind; kind alone, stopped: the host as before."""
    if link_exists(BRIDGE) or LocalCluster("local").running():
        pytest.skip("a local cluster runs on this host: see the 'beside' test")
    if KindCluster(KIND_NAME).exists():
        pytest.skip(f"kind cluster {KIND_NAME} exists already")
    before = _host()
    quiet = snapshot(Path("/nonexistent"))
    own = OwnLocal()
    try:
        kind = _kind_up()
        kind.deploy_probe({})
        kind.answers()
        local = own.up()  # local after kind, beside it
        local.answers()
        kind.answers()
        _kind().down()  # kind goes first: its daemon's stop must leave the local bridge alone
        assert dockerhost.DockerHost().leftovers() == []
        local.answers()
        kind = _kind_up()  # kind after local, beside it
        kind.deploy_probe({})
        kind.answers()
        local.answers()
        own.down()  # local goes first this time
        kind.answers()
        _kind_down_clean(before)
    finally:
        own.down()
        _kind().down()
    assert _host() == before
    left = snapshot(Path("/nonexistent")).leftovers(quiet)
    assert left.get("links", []) == [] and left.get("iptables", []) == [], left
    assert left.get("mounts", []) == [], left


def test_kind_beside_a_running_local_cluster(ready: None) -> None:
    """At the same time as a local cluster someone else started: used, never stopped."""
    lc = LocalCluster("local")
    if not lc.running():
        pytest.skip("no local cluster named 'local' runs (the other test covers this case)")
    if KindCluster(KIND_NAME).exists():
        pytest.skip(f"kind cluster {KIND_NAME} exists already")
    from servegate.cluster.controlplane import context_name

    local = Target("local", lc.layout.admin_kubeconfig, context_name(lc.name), direct=True)
    local.deploy_probe({"servegate.io/node": "real"})
    try:
        before = _host()
        kind = _kind_up()
        try:
            kind.deploy_probe({})
            kind.answers()
            local.answers()
        finally:
            _kind_down_clean(before)
        local.answers()
        assert lc.running()
    finally:
        local.kubectl("delete", "namespace", NS, "--wait=false")
