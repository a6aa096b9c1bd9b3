"""The Redis add-on's config and the port file every add-on of this kind shares."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from servegate.cluster.addons import portfile, redis
from servegate.cluster.addons.base import Addon


def test_config_binds_bridge_and_loopback_and_persists_nothing(tmp_path: Path) -> None:
    lines = redis.redis_config(6380, tmp_path, "10.244.0.1").splitlines()
    assert "bind 10.244.0.1 127.0.0.1" in lines
    assert "port 6380" in lines
    assert 'save ""' in lines and "appendonly no" in lines
    assert f"dir {tmp_path}" in lines
    assert not any(line.startswith("bind") and "0.0.0.0" in line for line in lines)


def test_addon_satisfies_the_protocol() -> None:
    assert isinstance(redis.ADDON, Addon)
    assert redis.ADDON.processes == ("redis",)


def test_a_taken_preferred_port_is_skipped_and_the_choice_recorded(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        chosen = portfile.choose(tmp_path, {"a": (taken, ("127.0.0.1",))})
    assert chosen["a"] != taken
    assert portfile.read(tmp_path, "a") == chosen["a"]


def test_ports_of_one_addon_are_distinct(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    chosen = portfile.choose(tmp_path, {"x": (free, ("127.0.0.1",)), "y": (free, ("127.0.0.1",))})
    assert chosen["x"] != chosen["y"]
    assert portfile.read_all(tmp_path) == chosen


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"a": "x"}'])
def test_a_missing_or_garbled_port_file_reads_as_nothing(tmp_path: Path, text: str) -> None:
    if text:
        (tmp_path / "ports.json").write_text(text)
    assert portfile.read(tmp_path, "a") is None


def test_ping_of_nothing_listening_is_a_one_line_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reason = redis.ping("127.0.0.1", port, timeout_s=1.0)
    assert reason is not None and f"127.0.0.1:{port}" in reason and "\n" not in reason
