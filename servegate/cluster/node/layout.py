"""Where every file of the node lives, and the node's fixed settings.

All state sits under one directory the node owns (never containerd's or the kubelet's
system defaults), so several clusters cannot collide and ``down`` knows exactly what to
unmount and delete. Unix socket paths are limited to 107 bytes, hence the short names.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from servegate.errors import ConfigError
from servegate.paths import cache_root as cache_root  # node modules import it from here
from servegate.procs import ProcessTable

CNI_BIN_DIR = Path("/usr/lib/cni")
"""Debian's containernetworking-plugins install directory."""

CNI_NETWORK = "servegate"
"""Name of our CNI network; host-local and libcni name their state files after it."""

DEVICE_PLUGINS_DIR = Path("/var/lib/kubelet/device-plugins")

BRIDGE = "sgbr0"
"""The node's pod bridge; at most 15 characters (IFNAMSIZ)."""


@dataclass(frozen=True)
class GpuSpec:
    """The simulated GPUs the node advertises, as NVIDIA's plugins would on real hardware."""

    # Four physical GPUs, each under one resource as NVIDIA's device plugin does: three whole
    # (nvidia.com/gpu) and one MIG-partitioned into seven 1g.5gb slices. Time-slicing is
    # covered by the kwok fleet's time-sliced pool (fleets/default.yaml).
    count: int = 3
    product: str = "NVIDIA-A100-SXM4-40GB"
    memory_mib: int = 40960
    mig_1g_5gb: int = 7
    """Number of nvidia.com/mig-1g.5gb devices (a separate, MIG-partitioned GPU)."""
    timeslice_replicas: int = 0
    """Replicas per GPU advertised as nvidia.com/gpu.shared (NVIDIA's renamed time-slicing)."""

    def resources(self) -> dict[str, int]:
        out = {"nvidia.com/gpu": self.count}
        if self.mig_1g_5gb:
            out["nvidia.com/mig-1g.5gb"] = self.mig_1g_5gb
        if self.timeslice_replicas:
            out["nvidia.com/gpu.shared"] = self.count * self.timeslice_replicas
        return out

    def labels(self) -> dict[str, str]:
        """The labels GPU feature discovery puts on a node with these GPUs."""
        labels = {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": self.product,
            # GPU feature discovery counts physical GPUs: the MIG-partitioned one is extra.
            "nvidia.com/gpu.count": str(self.count + (1 if self.mig_1g_5gb else 0)),
            "nvidia.com/gpu.memory": str(self.memory_mib),
            "nvidia.com/gpu.family": "ampere" if "A100" in self.product else "hopper",
        }
        if self.mig_1g_5gb:
            labels["nvidia.com/mig.strategy"] = "mixed"
        if self.timeslice_replicas:
            labels["nvidia.com/gpu.replicas"] = str(self.timeslice_replicas)
            labels["nvidia.com/gpu.sharing-strategy"] = "time-slicing"
        return labels


@dataclass(frozen=True)
class NodeSpec:
    """Settings of the one real node."""

    name: str = "servegate-node-0"
    pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/12"
    cluster_dns: str = "10.96.0.10"
    cluster_domain: str = "cluster.local"
    gpus: GpuSpec = field(default_factory=GpuSpec)

    def __post_init__(self) -> None:
        try:
            pods = ipaddress.ip_network(self.pod_cidr)
            svcs = ipaddress.ip_network(self.service_cidr)
            dns = ipaddress.ip_address(self.cluster_dns)
        except ValueError as exc:
            raise ConfigError(f"node settings: {exc}") from exc
        if pods.overlaps(svcs):
            raise ConfigError(f"node settings: pod_cidr {pods} overlaps service_cidr {svcs}")
        if dns not in svcs:
            raise ConfigError(f"node settings: cluster_dns {dns} is not inside {svcs}")
        for net in (pods, svcs):
            if not net.is_private or net.is_loopback:
                raise ConfigError(f"node settings: {net} must be a private, non-loopback range")

    @property
    def gateway(self) -> str:
        """The bridge's own address: first host of the pod CIDR (also CoreDNS's listen IP)."""
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))


@dataclass(frozen=True)
class Layout:
    """Paths of one node under its state directory."""

    root: Path

    @property
    def containerd_dir(self) -> Path:
        return self.root / "ctd"

    @property
    def containerd_config(self) -> Path:
        return self.containerd_dir / "config.toml"

    @property
    def containerd_root(self) -> Path:
        """Content store and snapshots, kept in the cache across clusters (one real node per
        host): imported images survive ``down``, so the next ``up`` skips the import."""
        return cache_root() / "node" / "containerd-root"

    @property
    def containerd_state(self) -> Path:
        return self.containerd_dir / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "ctd.sock"

    @property
    def runc_root(self) -> Path:
        return self.containerd_dir / "runc"

    @property
    def netns_dir(self) -> Path:
        """containerd's netns bind mounts (``netns_mounts_under_state_dir``)."""
        return self.containerd_state / "io.containerd.grpc.v1.cri" / "netns"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def pod_logs_dir(self) -> Path:
        return self.root / "pod-logs"

    @property
    def device_plugins_dir(self) -> Path:
        """Hard-coded in the kubelet (deviceplugin v1beta1 ``DevicePluginPath``), whatever
        ``--root-dir`` says: the one system path the node has to use."""
        return DEVICE_PLUGINS_DIR

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"

    @property
    def coredns_config(self) -> Path:
        return self.root / "Corefile"

    @property
    def prometheus_config(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def prometheus_data(self) -> Path:
        return self.root / "prometheus-data"

    @property
    def run_dir(self) -> Path:
        """Pid files and logs of the node's processes."""
        return self.root / "run"

    def processes(self) -> ProcessTable:
        """The node's processes, recorded under :attr:`run_dir` without their command line:
        some retitle themselves (redis-server does), so PID and start ticks identify them."""
        return ProcessTable(self.run_dir, keep_argv=False)

    def check(self) -> None:
        """Refuse a state directory whose socket paths would exceed the kernel's limit."""
        longest = self.kubelet_dir / "pod-resources" / "kubelet.sock"
        if len(str(longest).encode()) > 107:
            raise ConfigError(
                f"node state directory {self.root} is too long for unix sockets; pick a shorter one"
            )
