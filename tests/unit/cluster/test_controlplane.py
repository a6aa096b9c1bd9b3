"""Control-plane command lines bind loopback only; certificates carry the names clients use."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
from cryptography import x509

from servegate.cluster import controlplane, identities, kwok, network
from servegate.cluster.binaries import Resolved
from servegate.cluster.controlplane import Layout
from servegate.cluster.network import Ports
from servegate.config.fleet import load_fleet
from servegate.errors import UserError

ROOT = Path(__file__).resolve().parents[3]


def _bin(name: str, source: str = "build") -> Resolved:
    return Resolved(name, Path(f"/cache/{name}"), source)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "local")


def _addresses(argv: list[str]) -> list[str]:
    """Every host named by a listen/bind/advertise/server flag."""
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "--initial-cluster-state":
            continue
        if any(
            w in key
            for w in (
                "listen",
                "bind",
                "advertise",
                "servers",
                "initial-cluster",
                "server-address",
                "node-ip",
            )
        ):
            for part in value.split(","):
                host = part.split("://")[-1].split("=")[-1].rsplit(":", 1)[0]
                out.append(host)
    return out


def test_every_component_binds_loopback_only(layout: Layout) -> None:
    ports = Ports.for_slot(0)
    certs = controlplane.make_pki(layout)
    argvs = [
        controlplane.etcd_argv(_bin("etcd"), layout, ports),
        controlplane.apiserver_argv(_bin("kube-apiserver"), layout, ports, certs),
        controlplane.controller_manager_argv(_bin("kube-controller-manager"), layout, ports, certs),
        controlplane.scheduler_argv(_bin("kube-scheduler"), layout, ports),
        kwok.kwok_argv(_bin("kwok"), layout.component_kubeconfig("kwok"), ports),
    ]
    for argv in argvs:
        hosts = _addresses(argv)
        assert hosts, argv[0]
        assert all(ipaddress.ip_address(h).is_loopback for h in hosts), (argv[0], hosts)


def test_debian_etcd_gets_no_flag_it_does_not_know(layout: Layout) -> None:
    ports = Ports.for_slot(0)
    assert "--unsafe-no-fsync" in controlplane.etcd_argv(_bin("etcd"), layout, ports)
    assert "--unsafe-no-fsync" not in controlplane.etcd_argv(_bin("etcd", "debian"), layout, ports)


def test_apiserver_certificate_names_and_client_identities(layout: Layout) -> None:
    certs = controlplane.make_pki(layout)
    server = x509.load_pem_x509_certificate(certs["apiserver"].cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in san.get_values_for_type(x509.DNSName)
    ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    assert {"127.0.0.1", network.SERVICE_IP} <= ips
    admin = x509.load_pem_x509_certificate(certs["admin"].cert.read_bytes())
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    # Keys are private; a second call reuses the same files.
    assert certs["admin"].key.stat().st_mode & 0o077 == 0
    again = controlplane.make_pki(layout)
    assert again["admin"].cert.read_bytes() == certs["admin"].cert.read_bytes()


def test_kubeconfig_has_the_servegate_context(layout: Layout) -> None:
    import yaml

    certs = controlplane.make_pki(layout)
    controlplane.write_kubeconfigs(layout, certs, Ports.for_slot(3), "local")
    cfg = yaml.safe_load(layout.admin_kubeconfig.read_text())
    assert cfg["current-context"] == "servegate-local"
    assert (
        cfg["clusters"][0]["cluster"]["server"]
        == f"https://127.0.0.1:{Ports.for_slot(3).apiserver}"
    )
    assert layout.admin_kubeconfig.stat().st_mode & 0o077 == 0


def test_port_slots_do_not_overlap_and_a_busy_port_is_named() -> None:
    a, b = Ports.for_slot(0).named(), Ports.for_slot(1).named()
    assert len(set(a.values()) | set(b.values())) == len(a) + len(b)
    with pytest.raises(UserError, match="port slot"):
        Ports.for_slot(network.MAX_SLOTS)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        ports = Ports(busy, busy + 1, busy + 2, busy + 3, busy + 4, busy + 5)
        with pytest.raises(UserError) as err:
            network.check_ports_free(ports)
    assert f"port {busy} (etcd_client)" in str(err.value) and "--port-slot" in str(err.value)


def test_fake_nodes_carry_gpu_capacity_labels_taints_and_pod_cidr() -> None:
    fleet = load_fleet(ROOT / "fleets" / "default.yaml")
    nodes = kwok.node_manifests(fleet, "v1.32.13")
    assert len(nodes) == fleet.node_count
    assert len({n["metadata"]["name"] for n in nodes}) == len(nodes)
    assert len({n["spec"]["podCIDR"] for n in nodes}) == len(nodes)
    h100 = next(n for n in nodes if n["metadata"]["labels"]["servegate.dev/pool"] == "h100")
    assert h100["status"]["capacity"]["nvidia.com/gpu"] == "8"
    assert h100["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert h100["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    spot = next(n for n in nodes if n["metadata"]["labels"]["servegate.dev/pool"] == "spot")
    assert spot["metadata"]["labels"]["kubernetes.io/lifecycle"] == "spot"
    assert {"key": "spot", "value": "true", "effect": "NoSchedule"} in spot["spec"]["taints"]
    assert h100["spec"]["taints"] == []


def test_the_api_server_records_every_write(layout: Layout) -> None:
    """Metadata of each write goes to the audit log; reads are not recorded, except those of
    the host components' own users (servegate.cluster.identities)."""
    certs = controlplane.make_pki(layout)
    argv = controlplane.apiserver_argv(_bin("kube-apiserver"), layout, Ports.for_slot(0), certs)
    assert f"--audit-log-path={layout.audit_log}" in argv
    assert f"--audit-policy-file={layout.audit_policy}" in argv
    rules = controlplane.AUDIT_POLICY["rules"]
    assert rules[0] == {"level": "Metadata", "users": identities.users()}
    assert rules[1]["level"] == "Metadata" and set(rules[1]["verbs"]) >= {"create", "delete"}
    assert "verbs" not in rules[0] and "servegate-admin" not in rules[0]["users"]
    assert rules[-1] == {"level": "None"}
    assert "suite" in certs  # a second admin identity the audit test runs the suites as
