"""Debian's redis-server started the way the redis add-on starts it, on loopback addresses.

127.0.0.2 stands in for the node's bridge address, so this needs no cluster: the config must
make Redis answer on both listeners and keep nothing on disk.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from servegate.cluster.addons import portfile, redis
from servegate.cluster.node.layout import Layout

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="apt-get install redis-server"),
]

STAND_IN_BRIDGE = "127.0.0.2"


def test_redis_answers_on_both_listeners_and_writes_nothing(tmp_path: Path) -> None:
    import redis as redis_py

    data = tmp_path / "data"
    data.mkdir()
    hosts = (STAND_IN_BRIDGE, redis.LOOPBACK)
    port = portfile.choose(tmp_path, {"redis": (redis.PREFERRED_PORT + 100, hosts)})["redis"]
    conf = tmp_path / "redis.conf"
    conf.write_text(redis.redis_config(port, data, STAND_IN_BRIDGE))
    sup = Layout(tmp_path).processes()
    sup.start("redis", [str(shutil.which("redis-server")), str(conf)])
    try:
        deadline = time.monotonic() + 20
        while (reason := redis.ping(redis.LOOPBACK, port)) is not None:
            assert sup.alive("redis"), sup.log_path("redis").read_text()[-500:]
            assert time.monotonic() < deadline, reason
            time.sleep(0.2)
        assert redis.ping(STAND_IN_BRIDGE, port) is None
        client = redis_py.Redis(host=STAND_IN_BRIDGE, port=port)
        client.rpush("q", "a", "b", "c")
        assert client.llen("q") == 3
        client.close()
    finally:
        sup.stop("redis")
    assert not sup.alive("redis")
    assert list(data.iterdir()) == [], "no RDB or AOF file may be written"
