"""KServe's controller manager, built from the Go module proxy once per version in a wrapper
module (servegate.cluster.addons.wrapbuild: KServe's go.mod replaces controller-runtime).
Measured cold build times are in docs/suites-operators.md.
"""

from __future__ import annotations

from pathlib import Path

from servegate.cluster.addons import wrapbuild
from servegate.cluster.addons.base import Progress, addon_cache

MODULE = "github.com/kserve/kserve"
VERSION = "v0.16.0"  # the version of the vendored serving.kserve.io CRDs
COMMAND = "cmd/manager"
BINARY = "kserve-manager"


def binary_path(version: str = VERSION) -> Path:
    return addon_cache() / f"kserve-{version}" / BINARY


def build(progress: Progress, version: str = VERSION) -> Path:
    """Build (or reuse) the manager; returns the binary's path."""
    out_dir = binary_path(version).parent
    built = wrapbuild.build(
        "kserve",
        MODULE,
        version,
        {BINARY: COMMAND},
        out_dir,
        progress,
        note="cold: ~15 min on 2 busy cores",
    )
    return built[BINARY]
