"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler as loopback processes.

Command lines are pure functions of the state directory, ports and binaries, so they are
unit-tested; :func:`start` runs them in order and waits on each health endpoint so a
failure names the component and the last lines of its log.
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from servegate.cluster import identities, kubeconfig, network
from servegate.cluster.binaries import Resolved
from servegate.cluster.network import LOOPBACK, Ports
from servegate.cluster.pki import CertPair, Pki, service_account_keys
from servegate.errors import UserError
from servegate.procs import ProcessTable, exited, tail
from servegate.wait import wait_until

ADMIN = "servegate-admin"
SUITE = "servegate-suite"
"""A second cluster-admin identity for runs that must be told apart from the add-ons, which
use the admin one (the audit-log test runs the suites as this user)."""

# What the API server records: every write, and every request of the host components' own
# users (servegate.cluster.identities: who they are and what they are refused shows there), at
# the Metadata level (who, what, where, the response code; no bodies); other reads are not
# recorded. JSON lines in ``Layout.audit_log``.
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "users": identities.users()},
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}
AUDIT_LOG_MAX_MB = 50


@dataclass(frozen=True)
class Layout:
    """Files of one cluster's control plane under its state directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def component_kubeconfig(self, name: str) -> Path:
        return self.root / "kubeconfigs" / f"{name}.kubeconfig"

    @property
    def scheduler_config(self) -> Path:
        return self.root / "kube-scheduler.yaml"

    @property
    def audit_policy(self) -> Path:
        return self.root / "audit-policy.yaml"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: JSON lines, one per write (see AUDIT_POLICY)."""
        return self.root / "audit.log"


def context_name(cluster: str) -> str:
    """``servegate-local`` for the default cluster ``local``."""
    return f"servegate-{cluster}"


def make_pki(layout: Layout) -> dict[str, CertPair]:
    """Every certificate the control plane uses (idempotent)."""
    pki = Pki(layout.pki)
    front = Pki(layout.pki, ca_name="front-proxy-ca")
    pki.ensure_ca()
    front.ensure_ca()
    return {
        "ca": pki.ca,
        "front-proxy-ca": front.ca,
        "sa": service_account_keys(layout.pki),
        "apiserver": pki.issue(
            "apiserver",
            "kube-apiserver",
            client=False,
            server=True,
            dns=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                f"kubernetes.default.svc.{network.CLUSTER_DOMAIN}",
            ),
            ips=(LOOPBACK, network.SERVICE_IP),
        ),
        "apiserver-kubelet-client": pki.issue(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
        ),
        "front-proxy-client": front.issue("front-proxy-client", "front-proxy-client"),
        "admin": pki.issue("admin", ADMIN, ("system:masters",)),
        "controller-manager": pki.issue("controller-manager", "system:kube-controller-manager"),
        "scheduler": pki.issue("scheduler", "system:kube-scheduler"),
        "kwok": pki.issue("kwok", "servegate-kwok", ("system:masters",)),
        "suite": pki.issue("suite", SUITE, ("system:masters",)),
    }


def write_kubeconfigs(
    layout: Layout, certs: dict[str, CertPair], ports: Ports, cluster: str
) -> None:
    """The admin kubeconfig (context servegate-<name>) and one per component."""
    server = f"https://{LOOPBACK}:{ports.apiserver}"
    ctx = context_name(cluster)
    kubeconfig.write(
        layout.admin_kubeconfig,
        kubeconfig.render(server, certs["ca"].cert, certs["admin"], ctx, ADMIN),
    )
    for comp in ("controller-manager", "scheduler", "kwok", "suite"):
        kubeconfig.write(
            layout.component_kubeconfig(comp),
            kubeconfig.render(server, certs["ca"].cert, certs[comp], ctx, comp),
        )


def etcd_argv(binary: Resolved, layout: Layout, ports: Ports) -> list[str]:
    client = f"http://{LOOPBACK}:{ports.etcd_client}"
    peer = f"http://{LOOPBACK}:{ports.etcd_peer}"
    argv = [
        str(binary.path),
        "--name=servegate",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=servegate={peer}",
        "--initial-cluster-state=new",
        "--log-level=warn",
        "--quota-backend-bytes=4294967296",
        "--snapshot-count=10000",
    ]
    if binary.source != "debian":  # etcd 3.4 lacks it; a throwaway cluster needs no fsync
        argv.append("--unsafe-no-fsync")
    return argv


def apiserver_argv(
    binary: Resolved, layout: Layout, ports: Ports, certs: dict[str, CertPair]
) -> list[str]:
    p = certs
    return [
        str(binary.path),
        f"--etcd-servers=http://{LOOPBACK}:{ports.etcd_client}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={ports.apiserver}",
        # EndpointSlices reject loopback addresses: do not publish one for `kubernetes`.
        "--endpoint-reconciler-type=none",
        f"--service-cluster-ip-range={network.SERVICE_CIDR}",
        f"--client-ca-file={p['ca'].cert}",
        f"--tls-cert-file={p['apiserver'].cert}",
        f"--tls-private-key-file={p['apiserver'].key}",
        f"--kubelet-client-certificate={p['apiserver-kubelet-client'].cert}",
        f"--kubelet-client-key={p['apiserver-kubelet-client'].key}",
        # Reach kubelets by their InternalIP (the node's bridge address), never by resolving
        # their hostname through the host's resolver, which would send DNS off the machine.
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-key-file={p['sa'].cert}",
        f"--service-account-signing-key-file={p['sa'].key}",
        f"--service-account-issuer=https://kubernetes.default.svc.{network.CLUSTER_DOMAIN}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
        f"--requestheader-client-ca-file={p['front-proxy-ca'].cert}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={p['front-proxy-client'].cert}",
        f"--proxy-client-key-file={p['front-proxy-client'].key}",
        f"--audit-policy-file={layout.audit_policy}",
        f"--audit-log-path={layout.audit_log}",
        "--audit-log-format=json",
        f"--audit-log-maxsize={AUDIT_LOG_MAX_MB}",
        "--audit-log-maxbackup=1",
        "--max-requests-inflight=800",
        "--max-mutating-requests-inflight=400",
    ]


def _secure_serving(kubeconfig: Path, port: int) -> list[str]:
    """Flags of a component that serves HTTPS on loopback and checks callers with the API."""
    return [
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
    ]


def controller_manager_argv(
    binary: Resolved, layout: Layout, ports: Ports, certs: dict[str, CertPair]
) -> list[str]:
    kc = layout.component_kubeconfig("controller-manager")
    return [
        str(binary.path),
        f"--kubeconfig={kc}",
        *_secure_serving(kc, ports.controller_manager),
        "--leader-elect=false",
        f"--cluster-signing-cert-file={certs['ca'].cert}",
        f"--cluster-signing-key-file={certs['ca'].key}",
        f"--root-ca-file={certs['ca'].cert}",
        f"--service-account-private-key-file={certs['sa'].key}",
        "--use-service-account-credentials=true",
        # Node pod CIDRs are set by whoever creates the Node (fleet code, node runtime).
        "--allocate-node-cidrs=false",
        f"--cluster-cidr={network.CLUSTER_CIDR}",
        f"--service-cluster-ip-range={network.SERVICE_CIDR}",
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-deployment-syncs=10",
        "--concurrent-replicaset-syncs=10",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_config(layout: Layout) -> dict[str, object]:
    """KubeSchedulerConfiguration: higher client QPS so a 2,000-pod burst is not throttled."""
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {
            "kubeconfig": str(layout.component_kubeconfig("scheduler")),
            "qps": 300,
            "burst": 600,
        },
        "leaderElection": {"leaderElect": False},
    }


def scheduler_argv(binary: Resolved, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary.path),
        f"--config={layout.scheduler_config}",
        *_secure_serving(layout.component_kubeconfig("scheduler"), ports.scheduler),
        "--profiling=false",
        "--v=1",
    ]


def _https_ok(url: str, ctx: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _wait(table: ProcessTable, name: str, check: Callable[[], bool], timeout: float) -> None:
    rec = table.get(name)
    assert rec is not None

    def ready_or_dead() -> bool:
        return check() or exited(rec) is not None

    wait_until(ready_or_dead, timeout, interval_s=0.1)
    if check():
        return
    code = exited(rec)
    state = f"exited with code {code}" if code is not None else f"not healthy after {timeout:.0f}s"
    raise UserError(f"{name} {state}: {tail(rec)} (log: {rec.log})")


def start(
    table: ProcessTable,
    layout: Layout,
    ports: Ports,
    bins: dict[str, Resolved],
    certs: dict[str, CertPair],
    timings: dict[str, float],
) -> None:
    """Start the four control-plane processes in order, each healthy before the next."""
    admin_ctx = ssl.create_default_context(cafile=str(certs["ca"].cert))
    admin_ctx.load_cert_chain(str(certs["admin"].cert), str(certs["admin"].key))
    local_ctx = ssl.create_default_context()
    local_ctx.check_hostname = False  # loopback, self-signed serving cert of the component
    local_ctx.verify_mode = ssl.CERT_NONE
    layout.scheduler_config.write_text(yaml.safe_dump(scheduler_config(layout)), "utf-8")
    layout.audit_policy.write_text(yaml.safe_dump(AUDIT_POLICY), "utf-8")

    steps: list[tuple[str, list[str], Callable[[], bool], float]] = [
        (
            "etcd",
            etcd_argv(bins["etcd"], layout, ports),
            lambda: _http_ok(f"http://{LOOPBACK}:{ports.etcd_client}/health"),
            30,
        ),
        (
            "kube-apiserver",
            apiserver_argv(bins["kube-apiserver"], layout, ports, certs),
            lambda: _https_ok(f"https://{LOOPBACK}:{ports.apiserver}/readyz", admin_ctx),
            90,
        ),
        (
            "kube-controller-manager",
            controller_manager_argv(bins["kube-controller-manager"], layout, ports, certs),
            lambda: _https_ok(f"https://{LOOPBACK}:{ports.controller_manager}/healthz", local_ctx),
            60,
        ),
        (
            "kube-scheduler",
            scheduler_argv(bins["kube-scheduler"], layout, ports),
            lambda: _https_ok(f"https://{LOOPBACK}:{ports.scheduler}/healthz", local_ctx),
            60,
        ),
    ]
    for name, argv, check, timeout in steps:
        started = time.monotonic()
        table.start(name, argv)
        _wait(table, name, check, timeout)
        timings[name] = time.monotonic() - started
