"""Configuration files of the node's components, as pure functions of the node settings.

Kept free of side effects so that every safety property (no masquerade, no default route
out of a pod, no system paths, images never garbage-collected because they cannot be
pulled again) is checked by unit tests without starting anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from servegate.cluster.node.layout import BRIDGE, CNI_NETWORK, Layout, NodeSpec
from servegate.errors import UserError


def cni_conflist(spec: NodeSpec, layout: Layout) -> dict[str, Any]:
    """Bridge + host-local in the node's pod CIDR; pods get a route to Services only."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                # No default route and no masquerade: a pod can reach other pods, the node's
                # bridge address (CoreDNS) and Service IPs, nothing beyond.
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.cni_ipam_dir),
                    "ranges": [[{"subnet": spec.pod_cidr, "gateway": spec.gateway}]],
                    "routes": [{"dst": spec.service_cidr}],
                },
            }
        ],
    }


def kubelet_auth(client_ca: Path | None) -> dict[str, Any]:
    """The kubelet API never fails open: client certificates of the cluster CA or bearer
    tokens the API server vouches for, no anonymous caller, every request authorised by the
    API server (SubjectAccessReview). Without a readable CA there is no config at all."""
    if client_ca is None or not client_ca.is_file():
        where = "none given" if client_ca is None else f"{client_ca} is not a file"
        raise UserError(
            f"kubelet: no client CA ({where}); refusing to serve its API without "
            "authentication: run 'servegate cluster down' and 'up' again to remake the PKI"
        )
    return {
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
    }


def kubelet_config(spec: NodeSpec, layout: Layout, client_ca: Path | None) -> dict[str, Any]:
    """KubeletConfiguration (v1beta1) for a cgroup v1 host running containerd 1.6."""
    auth = kubelet_auth(client_ca)
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": "/servegate",
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "imageServiceEndpoint": f"unix://{layout.containerd_socket}",
        "podCIDR": spec.pod_cidr,
        "address": spec.gateway,
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "clusterDNS": [spec.cluster_dns],
        "clusterDomain": spec.cluster_domain,
        "resolvConf": str(layout.root / "resolv.conf"),
        "podLogsDir": str(layout.pod_logs_dir),
        "failSwapOn": False,
        # Lowering an OOM score needs CAP_SYS_RESOURCE, which sandboxed hosts may not grant.
        "oomScoreAdj": 0,
        # Our images cannot be pulled again: never garbage-collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # A small shared machine must not evict the suite's pods for a nearly full disk.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "serializeImagePulls": False,
        "maxPods": 110,
        "syncFrequency": "10s",
        # Report GPU capacity and readiness soon after the device plugin registers.
        "nodeStatusUpdateFrequency": "2s",
        **auth,
    }


def kubelet_args(spec: NodeSpec, layout: Layout, kubelet: Path, kubeconfig: Path) -> list[str]:
    return [
        str(kubelet),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={layout.kubelet_dir}",
        f"--cert-dir={layout.root / 'kubelet-pki'}",
        f"--hostname-override={spec.name}",
        f"--node-ip={spec.gateway}",
        "--v=1",
    ]


def kube_proxy_config(spec: NodeSpec, kubeconfig: Path) -> dict[str, Any]:
    """KubeProxyConfiguration: iptables mode, no host sysctl changes, loopback listeners."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "oomScoreAdj": 0,
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": spec.name,
        "clusterCIDR": spec.pod_cidr,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{spec.gateway}/32"],
        # Leave the host's conntrack and route_localnet sysctls alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False, "syncPeriod": "10s"},
    }


def corefile(spec: NodeSpec, kubeconfig: Path, metrics_port: int) -> str:
    """CoreDNS on the bridge address. No ``forward``: names outside the cluster never resolve."""
    zone = spec.cluster_domain
    return (
        f"{zone}:53 in-addr.arpa:53 ip6.arpa:53 {{\n"
        f"    bind {spec.gateway}\n"
        "    errors\n"
        f"    kubernetes {zone} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig}\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "        ttl 5\n"
        "    }\n"
        f"    prometheus 127.0.0.1:{metrics_port}\n"
        "    cache 5\n"
        "}\n"
        ".:53 {\n"
        f"    bind {spec.gateway}\n"
        "    errors\n"
        "}\n"
    )


def prometheus_config(targets_file: Path, interval: str = "5s") -> dict[str, Any]:
    """Scrape pods annotated ``prometheus.io/scrape: "true"``.

    Debian's Prometheus is built without kubernetes_sd, so ``nodetool podsd`` lists the
    annotated pods (address from ``prometheus.io/port``, path from ``prometheus.io/path``,
    labels namespace, pod and the pod's labels) into a file_sd file that this reads.
    """
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "kubernetes-pods",
                "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": interval}],
            }
        ],
    }
