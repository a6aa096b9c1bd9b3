"""Debian's redis-server as a host process of the local cluster: a queue for KEDA's redis trigger.

It listens on the node's bridge address (so pods could reach it, as a gateway filling a queue
would) and on 127.0.0.1 (for KEDA and the suites on the host), with its own config and data
directory under the node's state and no persistence: the queue is scratch data of one run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from servegate.cluster.addons import portfile
from servegate.cluster.addons.base import BRIDGE_IP, AddonContext, HostAddon, Progress
from servegate.cluster.node.layout import Layout as NodeLayout
from servegate.errors import UserError

NAME = "redis"
PREFERRED_PORT = 6379
LOOPBACK = "127.0.0.1"
REDIS_ENV = "SERVEGATE_KEDA_REDIS"
"""On a cluster servegate did not make: the Redis for the KEDA Redis check, as
``HOST:PORT`` (KEDA and this machine both use it) or ``KEDA_HOST:PORT,HOST:PORT`` (KEDA's
address, then the one this machine pushes to)."""


def redis_config(port: int, data_dir: Path, bridge_ip: str = BRIDGE_IP) -> str:
    """redis.conf: bound to the bridge and loopback only, nothing written to disk."""
    return "\n".join(
        [
            f"bind {bridge_ip} {LOOPBACK}",
            f"port {port}",
            # Protected mode refuses non-loopback clients without a password; the listeners
            # are the bridge (pods of this cluster only) and loopback, so it is not needed.
            "protected-mode no",
            'save ""',
            "appendonly no",
            f"dir {data_dir}",
            "daemonize no",
            'logfile ""',
            "maxmemory 64mb",
            "maxmemory-policy noeviction",
            "",
        ]
    )


def address(ctx: AddonContext, host: str | None = None) -> tuple[str, int]:
    """(host, port) of the running Redis: the bridge address unless ``host`` is given."""
    port = portfile.read(ctx.dir(NAME), "redis")
    if port is None:
        raise UserError("the redis add-on has not been started: servegate cluster addons redis")
    return (host or ctx.bridge_ip, port)


def ping(host: str, port: int, timeout_s: float = 2.0) -> str | None:
    """None if Redis answers PING at host:port, else why not (one line)."""
    import redis

    client = redis.Redis(
        host=host, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        return None if client.ping() else f"redis at {host}:{port} did not answer PING"
    except redis.RedisError as exc:
        return f"redis at {host}:{port}: {exc}"
    finally:
        client.close()


class RedisAddon(HostAddon):
    def build(self, progress: Progress) -> None:
        if shutil.which("redis-server") is None:
            raise UserError("redis-server not found: apt-get install redis-server")

    def start(self, ctx: AddonContext, progress: Progress) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise UserError("redis-server not found: apt-get install redis-server")
        root = ctx.dir(NAME)
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        ports = portfile.choose(root, {"redis": (PREFERRED_PORT, (ctx.bridge_ip, LOOPBACK))})
        conf = root / "redis.conf"
        conf.write_text(redis_config(ports["redis"], data, ctx.bridge_ip))
        ctx.sup.start("redis", [binary, str(conf)], nice=5)
        progress(f"add-on redis: {ctx.bridge_ip}:{ports['redis']} and {LOOPBACK}:{ports['redis']}")

    def ready(self, ctx: AddonContext) -> str | None:
        if not ctx.sup.alive("redis"):
            return "redis-server is not running"
        port = portfile.read(ctx.dir(NAME), "redis")
        if port is None:
            return "no port recorded"
        return ping(ctx.bridge_ip, port) or ping(LOOPBACK, port)

    def teardown(self, node: NodeLayout) -> None:
        """Nothing outside the process and its directory (removed with the node's state)."""

    def check_existing(self, client: Any) -> str | None:
        if os.environ.get(REDIS_ENV):
            return None
        return (
            "servegate runs Redis only on its local cluster; on this cluster the KEDA Redis "
            f"check needs a Redis reachable by KEDA and by this machine: set {REDIS_ENV}"
        )


ADDON = RedisAddon(NAME, ("redis",))
