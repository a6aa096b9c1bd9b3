"""Each host-run component of the local cluster gets its own certificate, kubeconfig and
RBAC: never system:masters, never the admin kubeconfig, and only the verbs it uses.

Whether the API server really authorises these users as intended is shown by the e2e test
(tests/e2e/cluster/test_least_privilege.py, SubjectAccessReviews and the audit log); these
tests check what servegate generates and hands to the processes.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from servegate.cluster import controlplane, identities
from servegate.cluster.addons import metrics_server, prometheus_adapter
from servegate.cluster.addons.base import AddonContext, Credentials
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.cluster.pki import Pki

READ_ONLY: tuple[str, ...] = ("coredns", "podsd", "kube-router", "metrics-server")
READ_ONLY += ("prometheus-adapter", "keda-adapter")
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def _subject(cert_path: Path) -> tuple[str, list[str]]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cn), [str(o) for o in orgs]


def _rules(ident: identities.Identity) -> list[dict[str, list[str]]]:
    return [r for o in ident.objects() if o["kind"] in ("ClusterRole", "Role") for r in o["rules"]]


def test_every_component_named_in_the_issue_has_an_identity() -> None:
    assert set(identities.IDENTITIES) == {
        "coredns",
        "podsd",
        "kube-router",
        "metrics-server",
        "prometheus-adapter",
        "keda-operator",
        "keda-adapter",
        "kserve-manager",
        "kuberay-operator",
    }


@pytest.mark.parametrize("component", sorted(identities.IDENTITIES))
def test_certificate_names_the_component_and_no_group(tmp_path: Path, component: str) -> None:
    pki = Pki(tmp_path)
    pki.ensure_ca()
    ident = identities.get(component)
    path, pair = identities.write_kubeconfig(
        pki, ident, "https://127.0.0.1:6443", "servegate-t", tmp_path / "k"
    )
    assert _subject(pair.cert) == (f"servegate:{component}", [])  # no system:masters
    cfg = yaml.safe_load(path.read_text())
    (user,) = cfg["users"]
    assert user["name"] == f"servegate:{component}"
    embedded = base64.b64decode(user["user"]["client-certificate-data"])
    assert embedded == pair.cert.read_bytes()
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("component", sorted(identities.IDENTITIES))
def test_rbac_binds_only_the_component_and_grants_no_wildcards(component: str) -> None:
    ident = identities.get(component)
    for obj in ident.objects():
        if obj["kind"].endswith("Binding"):
            assert obj["subjects"] == [
                {"kind": "User", "apiGroup": identities.RBAC, "name": ident.user}
            ]
            assert obj["roleRef"]["name"] not in ("cluster-admin", "admin", "edit")
    for r in _rules(ident):
        assert "*" not in r["verbs"]
        assert not {"escalate", "bind", "impersonate"} & set(r["verbs"])
        assert "*" not in r["resources"]
        # The only wildcard group is KEDA's scale subresource of any target kind.
        if "*" in r["apiGroups"]:
            assert (component, r["resources"]) == ("keda-operator", ["*/scale"])


@pytest.mark.parametrize("component", READ_ONLY)
def test_read_only_components_cannot_write(component: str) -> None:
    for r in _rules(identities.get(component)):
        assert not WRITES & set(r["verbs"]), r


@pytest.mark.parametrize("component", sorted(identities.IDENTITIES))
def test_secrets_only_where_the_component_reads_them(component: str) -> None:
    reads_secrets = {
        "keda-operator": {"get", "list", "watch"},  # trigger authentication, target env
        "kserve-manager": {"get"},  # storage credentials named by an InferenceService
    }
    verbs: set[str] = set()
    for r in _rules(identities.get(component)):
        if "secrets" in r["resources"] and "" in r["apiGroups"]:
            verbs |= set(r["verbs"])
    assert verbs == reads_secrets.get(component, set())


def test_extension_api_servers_delegate_auth_and_nothing_else_does() -> None:
    delegating = {c for c, i in identities.IDENTITIES.items() if i.delegates_auth}
    assert delegating == {"metrics-server", "prometheus-adapter", "keda-adapter"}
    objs = identities.get("metrics-server").objects()
    refs = {(o["kind"], o["roleRef"]["name"]) for o in objs if "roleRef" in o}
    assert ("ClusterRoleBinding", "system:auth-delegator") in refs
    reader = [o for o in objs if o["kind"] == "RoleBinding"]
    assert reader[0]["metadata"]["namespace"] == "kube-system"
    assert reader[0]["roleRef"]["name"] == "extension-apiserver-authentication-reader"


def test_object_paths() -> None:
    objs = identities.get("keda-operator").objects()
    paths = [identities.object_path(o) for o in objs]
    assert paths == [
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/servegate:keda-operator",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/servegate:keda-operator",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles/servegate:keda-operator",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings/servegate:keda-operator",
    ]


def test_the_audit_log_records_every_request_of_every_component_user() -> None:
    first = controlplane.AUDIT_POLICY["rules"][0]
    assert first == {"level": "Metadata", "users": identities.users()}
    assert len(identities.users()) == len(identities.IDENTITIES)


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, str]] = []

    def request(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        self.calls.append((method, path, body, content_type))
        return body


def _ctx(tmp_path: Path, api: FakeApi) -> AddonContext:
    pki = Pki(tmp_path / "pki")
    pki.ensure_ca()
    node = NodeLayout(tmp_path / "node")
    return AddonContext(
        cluster="t",
        state_dir=tmp_path,
        node=node,
        sup=node.processes(),
        api=api,  # type: ignore[arg-type]  # a fake with request() only
        apiserver_url="https://127.0.0.1:16443",
        ca=pki.ca.cert,
        front_proxy_ca=tmp_path / "fp.crt",
        prometheus_url="http://127.0.0.1:16449",
    )


def test_an_addon_identity_applies_its_rbac_before_handing_out_credentials(
    tmp_path: Path,
) -> None:
    api = FakeApi()
    creds = _ctx(tmp_path, api).identity("metrics-server")
    assert creds.user == "servegate:metrics-server"
    assert _subject(creds.cert) == ("servegate:metrics-server", [])
    applied = [(m, p.split("?")[0], c) for m, p, _b, c in api.calls]
    want = [identities.object_path(o) for o in identities.get("metrics-server").objects()]
    assert applied == [("PATCH", p, "application/apply-patch+yaml") for p in want]
    assert creds.kubeconfig.parent == tmp_path / "node" / "identities"


def test_extension_servers_are_started_with_their_own_identity(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, FakeApi())
    creds = Credentials("servegate:x", tmp_path / "x.kc", tmp_path / "x.crt", tmp_path / "x.key")
    ms = metrics_server.argv("/bin/ms", ctx, 4443, tmp_path / "certs", creds)
    pa = prometheus_adapter.argv(
        "/bin/pa", ctx, 6543, tmp_path / "c.yaml", tmp_path / "d", creds.kubeconfig
    )
    for argv in (ms, pa):
        kubeconfigs = [a.split("=", 1)[1] for a in argv if "kubeconfig=" in a]
        assert kubeconfigs and set(kubeconfigs) == {str(creds.kubeconfig)}
        assert not [a for a in argv if "admin" in a]
    assert f"--kubelet-client-certificate={creds.cert}" in ms
    assert f"--kubelet-client-key={creds.key}" in ms
