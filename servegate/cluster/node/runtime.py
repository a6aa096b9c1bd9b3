"""The node hook implementation: ``servegate.cluster.node.create_runtime()``.

Translates the control plane's :class:`NodeContext` into the node's inputs: its own
certificates (a ``system:node`` identity for the kubelet, ``system:kube-proxy``, an admin
identity for servegate's own setup steps, and the read-only ``servegate:coredns`` and
``servegate:podsd`` users of servegate.cluster.identities for CoreDNS and Prometheus' pod
discovery), kubeconfigs, settings and ports.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from servegate.cluster import identities, kubeconfig
from servegate.cluster.api import Api
from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.network import port_free
from servegate.cluster.node import addons, leftovers
from servegate.cluster.node import node as nodemod
from servegate.cluster.node.layout import CNI_BIN_DIR, GpuSpec, Layout, NodeSpec
from servegate.cluster.nodehook import ComponentStatus, NodeContext
from servegate.errors import UserError
from servegate.procs import owned, rss_kib

COMMANDS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "ip": "iproute2",
    "debootstrap": "debootstrap",
    "prometheus": "prometheus",
}
PROCESSES = ("containerd", "kubelet", "fakegpu", "kube-proxy", "coredns", "podsd", "prometheus")


def _url(ctx: NodeContext) -> tuple[str, int]:
    u = urlparse(ctx.apiserver_url)
    if u.hostname is None or u.port is None:
        raise UserError(f"API server URL {ctx.apiserver_url!r} has no host:port")
    return u.hostname, u.port


def prometheus_port(ctx: NodeContext) -> int:
    """Slot base + 9: the control plane uses base+3..base+8 (see servegate.cluster.network)."""
    return _url(ctx)[1] + 6


def spec_for(ctx: NodeContext) -> NodeSpec:
    """The node's settings; its GPUs are the fleet's ``real_node`` ones when it has them."""
    real = ctx.fleet.real_node if ctx.fleet else None
    gpus = (
        GpuSpec(
            count=real.gpu.count,
            product=real.gpu.product,
            memory_mib=real.gpu.memory_mib,
            mig_1g_5gb=real.gpu.mig_1g_5gb,
        )
        if real
        else GpuSpec()
    )
    return NodeSpec(
        pod_cidr=ctx.pod_cidr,
        service_cidr=ctx.service_cidr,
        cluster_dns=ctx.cluster_dns,
        cluster_domain=ctx.cluster_domain,
        gpus=gpus,
    )


class LocalNode:
    """The one real node of the local cluster (kubelet + containerd on this host)."""

    name = NodeSpec().name

    def check(self, ctx: NodeContext) -> None:
        if os.geteuid() != 0:
            raise UserError(
                "the real node needs root (containerd, mounts, iptables): run as root, or --no-node"
            )
        missing = sorted({pkg for cmd, pkg in COMMANDS.items() if shutil.which(cmd) is None})
        if missing:
            raise UserError(
                f"missing Debian packages for the node: apt-get install {' '.join(missing)}"
            )
        if not (CNI_BIN_DIR / "bridge").exists():
            raise UserError("CNI plugins missing: apt-get install containernetworking-plugins")
        if not Path("/sys/fs/cgroup/memory").is_dir():
            raise UserError("no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory")
        Layout(ctx.state_dir).check()
        for port in (10248, prometheus_port(ctx)):
            if not port_free(port):
                raise UserError(f"port 127.0.0.1:{port} is in use; stop what listens there")
        for binary in ("kubelet", "kube-proxy"):
            if binary not in ctx.binaries:
                raise UserError(f"the control plane resolved no {binary} binary")

    def _inputs(self, ctx: NodeContext) -> nodemod.NodeInputs:
        spec = spec_for(ctx)
        host, port = _url(ctx)
        state = ctx.state_dir
        admin = ctx.pki.issue("node-admin", "servegate-node-admin", ("system:masters",))
        kubelet = ctx.pki.issue(
            f"kubelet-{spec.name}", f"system:node:{spec.name}", ("system:nodes",)
        )
        proxy = ctx.pki.issue("kube-proxy", "system:kube-proxy")
        files = {}
        for stem, pair, user in (
            ("admin", admin, "servegate-node-admin"),
            ("kubelet", kubelet, f"system:node:{spec.name}"),
            ("kube-proxy", proxy, "system:kube-proxy"),
        ):
            cfg = kubeconfig.render(ctx.apiserver_url, ctx.ca.cert, pair, ctx.cluster, user)
            files[stem] = kubeconfig.write(state / f"{stem}.kubeconfig", cfg)
        coredns, _ = identities.write_kubeconfig(
            ctx.pki,
            identities.get("coredns"),
            ctx.apiserver_url,
            ctx.cluster,
            state / "coredns.kubeconfig",
        )
        podsd = identities.issue(ctx.pki, identities.get("podsd"))
        return nodemod.NodeInputs(
            state_dir=state,
            api=Api(host, port, ctx.ca.cert, admin.cert, admin.key),
            kubelet=ctx.binaries["kubelet"],
            kube_proxy=ctx.binaries["kube-proxy"],
            kubelet_kubeconfig=files["kubelet"],
            proxy_kubeconfig=files["kube-proxy"],
            coredns_kubeconfig=coredns,
            access=addons.ApiAccess(ctx.apiserver_url, ctx.ca.cert, podsd.cert, podsd.key),
            client_ca=ctx.ca.cert,
            coredns_version=ctx.versions.node.get("coredns", "v1.14.7"),
            prometheus_port=prometheus_port(ctx),
            spec=spec,
        )

    def up(self, ctx: NodeContext) -> None:
        inp = self._inputs(ctx)
        try:
            rep = nodemod.up(inp, progress=ctx.log)
        finally:
            inp.api.close()
        took = ", ".join(f"{k} {v:.1f}s" for k, v in rep.timings.items())
        ctx.log(
            f"node {inp.spec.name} Ready ({took}); Prometheus on 127.0.0.1:{inp.prometheus_port}"
        )

    def down(self, ctx: NodeContext) -> None:
        left = nodemod.down(ctx.state_dir, progress=ctx.log)
        if left:
            raise UserError(f"node down left {len(left)} thing(s) behind, first: {left[0]}")

    def load_images(
        self, ctx: NodeContext, names: Sequence[str], progress: ProgressFn | None = None
    ) -> list[str]:
        return [b.ref for b in nodemod.load_images(ctx.state_dir, names, progress)]

    def status(self, ctx: NodeContext) -> list[ComponentStatus]:
        sup = Layout(ctx.state_dir).processes()
        out = []
        for name in PROCESSES:
            rec = sup.get(name)
            running = rec is not None and owned(rec)
            rss = rss_kib(rec.pid) if rec is not None and running else None
            if rss is not None:
                detail = f"rss {rss / 1024:.0f} MiB"
            else:
                detail = "" if rec is None else f"exited; see {sup.log_path(name)}"
            out.append(ComponentStatus(name, running, detail, rec.pid if rec else None))
        return out


def find_leftovers(state_dir: Path) -> list[str]:
    """Public entry for tests and ``cluster down``: what this node left on the host."""
    return leftovers.find(Layout(state_dir))
