"""Address plan of the local cluster: loopback ports, service and pod ranges.

Everything listens on 127.0.0.1. Ports are fixed per offset rather than random, so a
second ``up`` finds the same cluster, and a clash is reported with the port and what to do.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import asdict, dataclass

from servegate.errors import UserError

LOOPBACK = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/12"
SERVICE_IP = "10.96.0.1"
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
#: Pod range of the whole cluster: the real node's /24 (10.244.0.0/24) and kwok's /24s.
CLUSTER_CIDR = "10.224.0.0/11"
REAL_NODE_POD_CIDR = "10.244.0.0/24"
MAX_SLOTS = 100


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the control plane processes."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def for_slot(cls, slot: int = 0) -> Ports:
        """Ports of cluster slot ``slot``: a block of ten from 16440 + 10 * slot."""
        if not 0 <= slot < MAX_SLOTS:
            raise UserError(f"port slot {slot}: must be between 0 and {MAX_SLOTS - 1}")
        base = 16440 + 10 * slot
        return cls(
            apiserver=base + 3,
            etcd_client=base + 4,
            etcd_peer=base + 5,
            controller_manager=base + 6,
            scheduler=base + 7,
            kwok=base + 8,
        )

    def named(self) -> dict[str, int]:
        return asdict(self)


def port_free(port: int, host: str = LOOPBACK) -> bool:
    """True if nothing listens on ``host:port`` (we can bind it ourselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the servers do: connections in TIME_WAIT after a `down` do not block a listener.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def check_ports_free(ports: Ports) -> None:
    """One-line error naming the first port in use and the next step."""
    for name, port in ports.named().items():
        if not port_free(port):
            raise UserError(
                f"port {port} ({name}) on {LOOPBACK} is in use: stop what listens there "
                f"(ss -ltnp 'sport = :{port}'), run 'servegate cluster down', or use another "
                "port block with --port-slot N"
            )
