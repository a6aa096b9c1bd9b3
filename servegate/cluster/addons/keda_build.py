"""KEDA's operator and metrics API server, built from the Go module proxy once per version
in a wrapper module (servegate.cluster.addons.wrapbuild: KEDA's go.mod has replace and
exclude directives), both in one ``go build`` so they share the compile of ~2,000 packages.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from servegate.cluster import gomod
from servegate.cluster.addons import wrapbuild
from servegate.cluster.addons.base import Progress, addon_cache
from servegate.cluster.gobuild import go_binary
from servegate.errors import UserError

MODULE = "github.com/kedacore/keda/v2"
VERSION = "v2.21.0"  # the version of the vendored CRDs (manifests/crds/SOURCES.yaml)
COMMANDS = {"keda-operator": "cmd/operator", "keda-adapter": "cmd/adapter"}
BIN_DIR_ENV = "SERVEGATE_KEDA_BIN_DIR"  # prebuilt keda-operator and keda-adapter, if any


def ldflags(version: str = VERSION) -> str:
    """Strip symbols; stamp the version KEDA prints at start (it would say "main")."""
    return f"-s -w -X {MODULE}/version.Version={version.lstrip('v')}"


def crd_files(version: str = VERSION) -> list[Path]:
    """KEDA's CRDs at ``version``, from the module in Go's module cache (the build fetched it).

    The operator refuses to start unless all six exist; manifests/crds vendors only the two
    the reference units use."""
    go = go_binary()
    env = gomod.build_env(dict(os.environ))
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{MODULE}@{version}"],
        env=env,
        cwd=addon_cache(),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        root = Path(json.loads(proc.stdout)["Dir"]) / "config" / "crd" / "bases"
    except (ValueError, KeyError):
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"cannot find {MODULE}@{version} for its CRDs: {reason}") from None
    found = sorted(root.glob("*.yaml"))
    if not found:
        raise UserError(f"no CRDs under {root}")
    return found


def bin_dir(version: str = VERSION) -> Path:
    return addon_cache() / f"keda-{version}"


def binaries(version: str = VERSION) -> dict[str, Path] | None:
    """The cached (or ``$SERVEGATE_KEDA_BIN_DIR``) binaries, or None if not built yet."""
    explicit = os.environ.get(BIN_DIR_ENV)
    root = Path(explicit) if explicit else bin_dir(version)
    found = {name: root / name for name in COMMANDS}
    if all(p.is_file() for p in found.values()):
        return found
    if explicit:
        raise UserError(f"{BIN_DIR_ENV}={explicit}: needs {' and '.join(COMMANDS)}")
    return None


def build(progress: Progress, version: str = VERSION) -> dict[str, Path]:
    """Build (or reuse) keda-operator and keda-adapter; returns name -> path."""
    cached = binaries(version)
    if cached is not None:
        return cached
    return wrapbuild.build(
        "keda",
        MODULE,
        version,
        COMMANDS,
        bin_dir(version),
        progress,
        ldflags=ldflags(version),
        note="cold: ~20 min on 2 busy cores",
    )
