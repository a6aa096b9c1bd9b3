"""Ports of add-on processes, chosen once when they start and remembered in their directory.

An add-on prefers its upstream default port but must not fail because another program (or
another cluster's add-on on loopback) already has it, so the first free port from the
preferred one up is taken and written to ``ports.json``; ``ready`` and the suites read it back.
"""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Mapping
from pathlib import Path

from servegate.errors import UserError

_FILE = "ports.json"
_SEARCH = 200  # ports tried above the preferred one


def _free_on(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise UserError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    return True


def read_all(addon_dir: Path) -> dict[str, int]:
    """The ports recorded for the add-on (empty if it never started)."""
    try:
        raw = json.loads((addon_dir / _FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, int)}


def read(addon_dir: Path, name: str) -> int | None:
    return read_all(addon_dir).get(name)


def choose(addon_dir: Path, wanted: Mapping[str, tuple[int, tuple[str, ...]]]) -> dict[str, int]:
    """``{name: (preferred port, hosts it must be free on)}`` -> chosen ports, recorded.

    Ports picked in one call are distinct, so two listeners of one add-on never collide."""
    taken: set[int] = set()
    out: dict[str, int] = {}
    for name, (preferred, hosts) in wanted.items():
        for port in range(preferred, preferred + _SEARCH):
            if port not in taken and all(_free_on(h, port) for h in hosts):
                break
        else:
            raise UserError(f"no free port for {name} in {preferred}..{preferred + _SEARCH - 1}")
        taken.add(port)
        out[name] = port
    addon_dir.mkdir(parents=True, exist_ok=True)
    (addon_dir / _FILE).write_text(json.dumps(out, indent=1) + "\n")
    return out
