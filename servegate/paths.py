"""Where the project's data folders are: one place, so moving a module never breaks a path.

servegate runs from a checkout (or an editable install of one): manifests, load profiles,
fleets and image sources sit beside the ``servegate`` package. ``SERVEGATE_MANIFESTS``
points the manifests elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The checkout's root: the folder that holds ``servegate/``, ``manifests/``, ``suites/``."""


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/servegate`` (default ``~/.cache/servegate``): builds, images,
    calibration and parsed schemas that can always be made again."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "servegate"


def manifests_root() -> Path:
    env = os.environ.get("SERVEGATE_MANIFESTS")
    return Path(env) if env else REPO / "manifests"


LOADPROFILES = REPO / "loadprofiles"
SCHEMAS = REPO / "schemas"
LLMD_REPORT_SCHEMA = SCHEMAS / "vendor" / "llm-d-benchmark-report-v0.2.schema.json"
FLEETS = REPO / "fleets"
DEFAULT_FLEET = FLEETS / "default.yaml"
IMAGES = REPO / "images"
