"""Where the local cluster keeps its cache (built binaries) and its state (pids, certs, logs).

XDG_CACHE_HOME and XDG_STATE_HOME are honoured so that CI and tests can point both at a
scratch directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from servegate.errors import UserError

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/servegate`` (default ``~/.cache/servegate``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "servegate"


def bin_cache_dir() -> Path:
    """Directory of cached binaries named ``<name>-<version>``."""
    return cache_dir() / "bin"


def build_dir() -> Path:
    """Scratch directory for generated Go wrapper modules."""
    return cache_dir() / "build"


def state_root() -> Path:
    """``$XDG_STATE_HOME/servegate/cluster`` (default ``~/.local/state/servegate/cluster``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "servegate" / "cluster"


def check_name(name: str) -> str:
    """A cluster name is a DNS label: it becomes a directory and a kubeconfig entry."""
    if not _NAME.match(name):
        raise UserError(
            f"cluster name {name!r} is not valid: use lower-case letters, digits and '-', "
            "at most 40 characters"
        )
    return name


def state_dir(name: str) -> Path:
    """State of one cluster: pids, logs, certificates, kubeconfig."""
    return state_root() / check_name(name)
