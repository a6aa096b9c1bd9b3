"""The kind cluster configuration servegate passes to ``kind create cluster --config``.

One control-plane node. With servegate's own node image, kind's CNI is off (the image
carries a static bridge configuration) and kubeadm is told where the locally built
control-plane, etcd and CoreDNS images are. On hosts whose capability bounding set lacks
CAP_SYS_RESOURCE, the node's containerd must not lower a container's OOM score below its
own (runc fails with "can't get final child's PID from pipe"): ``restrict_oom_score_adj``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from servegate.cluster.kind import nodefiles

API_VERSION = "kind.x-k8s.io/v1alpha4"

RESTRICT_OOM_PATCH = '[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true\n'


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    image: str
    own_image: bool
    """servegate's node image (kubeadm patches, no default CNI) or upstream kindest/node."""
    repository: str = ""
    etcd_tag: str = ""
    coredns_tag: str = ""
    restrict_oom_score_adj: bool = False

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kind": "Cluster",
            "apiVersion": API_VERSION,
            "name": self.name,
            "nodes": [{"role": "control-plane", "image": self.image}],
            "networking": {
                "podSubnet": nodefiles.POD_SUBNET,
                "serviceSubnet": nodefiles.SERVICE_SUBNET,
                # the API server's port on the host is loopback-only (kind's default, explicit)
                "apiServerAddress": "127.0.0.1",
            },
        }
        if self.own_image:
            doc["networking"]["disableDefaultCNI"] = True
            doc["kubeadmConfigPatches"] = [
                yaml.safe_dump(patch, sort_keys=False) for patch in self.kubeadm_patches()
            ]
        if self.restrict_oom_score_adj:
            doc["containerdConfigPatches"] = [RESTRICT_OOM_PATCH]
        return doc

    def kubeadm_patches(self) -> list[dict[str, Any]]:
        """Where kubeadm finds its images (the ones preloaded in servegate's node image), and
        the resolv.conf the kubelet gives CoreDNS (see nodefiles.POD_RESOLV_CONF)."""
        return [
            {
                "kind": "ClusterConfiguration",
                "imageRepository": self.repository,
                "etcd": {"local": {"imageRepository": self.repository, "imageTag": self.etcd_tag}},
                "dns": {"imageRepository": self.repository, "imageTag": self.coredns_tag},
            },
            {"kind": "KubeletConfiguration", "resolvConf": nodefiles.POD_RESOLV_CONF},
        ]

    def yaml(self) -> str:
        return yaml.safe_dump(self.document(), sort_keys=False)
