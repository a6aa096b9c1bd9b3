"""The one real node of the local cluster: containerd, CNI, kubelet, kube-proxy, CoreDNS,
Prometheus and the locally built images. See docs/node.md.

Importing this package is cheap; the hook factory starts nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servegate.cluster.node.runtime import LocalNode


def create_runtime() -> LocalNode:
    """The node hook's factory (see servegate.cluster.nodehook)."""
    from servegate.cluster.node.runtime import LocalNode

    return LocalNode()
