"""Least privilege on the running local cluster, with every add-on started: the kubelet
refuses anonymous callers, each host component authenticates as its own user (the API
server's audit log and the certificates the processes hold say so) with no more than its
RBAC, and every listening socket of the cluster stays on this host.

Local cluster only (the components are host processes there). The add-ons this module
starts are stopped again at its end; `-s` prints the socket table that docs/cluster-security.md
shows.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from servegate.cluster import addons, identities, sockets
from servegate.cluster.controlplane import Layout
from servegate.cluster.local import LocalCluster
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.cluster.node.layout import NodeSpec
from servegate.harness.addons import Addons
from servegate.harness.cluster import ClusterHandle
from servegate.procs import owned
from servegate.wait import wait_until

pytestmark = pytest.mark.e2e

ADDONS: tuple[str, ...] = (
    "network-policy",
    "metrics-server",
    "prometheus-adapter",
    "redis",
    "keda",
)
ADDONS += ("kuberay", "kserve")
PROCESS_USER = {
    "coredns": "coredns",
    "podsd": "podsd",
    "kube-router": "kube-router",
    "metrics-server": "metrics-server",
    "prometheus-adapter": "prometheus-adapter",
    "keda-operator": "keda-operator",
    "keda-adapter": "keda-adapter",
    "kserve-manager": "kserve-manager",
    "kuberay-operator": "kuberay-operator",
}
"""Recorded process name -> component identity it must run as."""


@pytest.fixture(scope="module")
def state(sg_cluster: ClusterHandle) -> Iterator[Path]:
    if sg_cluster.kind != "local":
        pytest.skip("the host components and their sockets exist on the local cluster only")
    lc = LocalCluster(sg_cluster.cluster_name, log=lambda _m: None)
    with Addons(sg_cluster).scoped(*ADDONS):
        yield lc.state


def _subject(pem: bytes) -> tuple[str, tuple[str, ...]]:
    cert = x509.load_pem_x509_certificate(pem)
    cn = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    orgs = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return cn, tuple(orgs)


def _client_certs(pid: int) -> list[bytes]:
    """The client certificates a process was given: kubeconfigs named on its command line,
    in $KUBECONFIG or in its CoreDNS config, and --cert= files (podsd)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    env = dict(
        e.split("=", 1)
        for e in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        if "=" in e
    )
    kubeconfigs = [a.split("=", 1)[1] for a in argv if re.match(r"--([a-z]+-)?kubeconfig=", a)]
    if "KUBECONFIG" in env:
        kubeconfigs.append(env["KUBECONFIG"])
    if "-conf" in argv:  # CoreDNS: the kubernetes plugin's kubeconfig line
        corefile = Path(argv[argv.index("-conf") + 1]).read_text()
        kubeconfigs += re.findall(r"kubeconfig (\S+)", corefile)
    pems = [Path(a.split("=", 1)[1]).read_bytes() for a in argv if a.startswith("--cert=")]
    for path in kubeconfigs:
        for user in yaml.safe_load(Path(path).read_text())["users"]:
            pems.append(base64.b64decode(user["user"]["client-certificate-data"]))
    return pems


def test_each_component_holds_only_its_own_certificate(state: Path) -> None:
    table = NodeLayout(state / "node").processes()
    seen = {}
    for rec in table.records():
        if rec.name in PROCESS_USER and owned(rec):
            subjects = {_subject(p) for p in _client_certs(rec.pid)}
            seen[rec.name] = subjects
            assert subjects == {(f"servegate:{PROCESS_USER[rec.name]}", ())}, rec.name
    assert set(seen) == set(PROCESS_USER)  # every component ran and was looked at


def _audit_events(state: Path) -> list[dict[str, Any]]:
    log = Layout(state).audit_log
    events = []
    for path in sorted(log.parent.glob(log.stem + "*" + log.suffix)):  # with a rotated one
        for line in path.read_text().splitlines():
            if line.strip():
                events.append(json.loads(line))
    return events


def test_the_api_server_sees_each_component_as_its_own_user_and_refuses_none(
    state: Path,
) -> None:
    wanted = set(identities.users())
    by_user: dict[str, list[dict[str, Any]]] = {}

    def all_seen() -> bool:
        by_user.clear()
        for ev in _audit_events(state):
            by_user.setdefault(ev["user"]["username"], []).append(ev)
        return wanted <= set(by_user)

    wait_until(all_seen, 180, interval_s=2.0)  # podsd and the managers poll; a guard only
    assert sorted(wanted - set(by_user)) == []
    refused = [
        (u, ev["verb"], ev.get("objectRef", {}).get("resource"), ev["requestURI"])
        for u in wanted
        for ev in by_user[u]
        if ev.get("responseStatus", {}).get("code") == 403
    ]
    assert refused == []
    for user in wanted:  # none of them is in system:masters
        groups = {g for ev in by_user[user] for g in ev["user"].get("groups", [])}
        assert "system:masters" not in groups, user
    print(
        "\naudit events per component user: "
        + ", ".join(f"{u} {len(by_user[u])}" for u in sorted(wanted))
    )


def _can(ctx: addons.AddonContext, user: str, attrs: dict[str, str]) -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": attrs},
    }
    out = ctx.api.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(out["status"].get("allowed"))


NEEDS = {
    "coredns": {"verb": "watch", "group": "discovery.k8s.io", "resource": "endpointslices"},
    "podsd": {"verb": "list", "resource": "pods"},
    "kube-router": {"verb": "watch", "group": "networking.k8s.io", "resource": "networkpolicies"},
    "metrics-server": {"verb": "get", "resource": "nodes", "subresource": "metrics"},
    "prometheus-adapter": {"verb": "list", "resource": "pods"},
    "keda-operator": {
        "verb": "update",
        "group": "apps",
        "resource": "statefulsets",
        "subresource": "scale",
    },
    "keda-adapter": {"verb": "watch", "group": "keda.sh", "resource": "scaledobjects"},
    "kserve-manager": {"verb": "create", "group": "apps", "resource": "deployments"},
    "kuberay-operator": {"verb": "create", "resource": "pods"},
}
NEVER = [
    {"verb": "create", "group": "rbac.authorization.k8s.io", "resource": "clusterrolebindings"},
    {"verb": "impersonate", "resource": "users"},
    {"verb": "delete", "resource": "nodes"},
    {"verb": "get", "resource": "secrets", "namespace": "default", "name": "x"},
    {"verb": "create", "resource": "pods", "subresource": "exec", "namespace": "default"},
]
SECRET_READERS = {"keda-operator", "kserve-manager"}


def test_each_user_may_do_what_it_needs_and_not_what_an_admin_may(
    sg_cluster: ClusterHandle,
) -> None:
    ctx = addons.context(sg_cluster.cluster_name)
    try:
        assert set(NEEDS) == set(identities.IDENTITIES)
        for component, need in NEEDS.items():
            user = identities.get(component).user
            assert _can(ctx, user, need), (user, need)
            for attrs in NEVER:
                if component in SECRET_READERS and attrs["resource"] == "secrets":
                    continue
                assert not _can(ctx, user, attrs), (user, attrs)
    finally:
        ctx.api.close()


def _kubelet_get(path: str, cert: tuple[Path, Path] | None) -> int:
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE  # the kubelet's self-signed serving certificate
    if cert is not None:
        tls.load_cert_chain(str(cert[0]), str(cert[1]))
    url = f"https://{NodeSpec().gateway}:10250{path}"
    try:
        with urllib.request.urlopen(url, timeout=10, context=tls) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_kubelet_refuses_anonymous_callers_and_authorises_through_the_api(
    state: Path,
) -> None:
    pki = Layout(state).pki
    ms = (pki / "id-metrics-server.crt", pki / "id-metrics-server.key")
    podsd = (pki / "id-podsd.crt", pki / "id-podsd.key")
    assert _kubelet_get("/pods", None) == 401  # no client certificate: not authenticated
    assert _kubelet_get("/pods", podsd) == 403  # authenticated, no nodes/proxy permission
    assert _kubelet_get("/metrics/resource", ms) == 200  # nodes/metrics: allowed


def test_every_listening_socket_stays_on_this_host(state: Path) -> None:
    rows = sockets.listeners(state)
    print("\n" + sockets.table(rows))
    assert [r for r in rows if not r.private] == []
    processes = {r.process for r in rows}
    for expected in ("etcd", "kube-apiserver", "kubelet", "coredns", "redis", "keda-adapter"):
        assert expected in processes  # the listing saw the cluster, not an empty table
