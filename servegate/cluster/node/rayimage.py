"""The Ray image's own layers, built without Docker (see images/ray/README.md).

Layer 1 is a debootstrapped bookworm tree like the simulator's, with wget added: KubeRay's
liveness and readiness probes run ``wget ... | grep success`` in the Ray containers. Layer 2
is Ray Serve under ``/opt/ray``, pip-installed with ``--no-deps`` from the pinned list in
``images/ray/requirements.txt`` (wheels downloaded once into ``~/.cache/servegate/wheels``),
byte-compiled so Ray's many processes start without compiling, plus ``/usr/local/bin/ray``
(KubeRay's container command runs ``ray start`` through a login shell). Both are cached by
their inputs; :func:`servegate.cluster.node.images.ray` adds servegate's simulator and its
Ray Serve application on top.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.node import rootfs
from servegate.cluster.node.layout import cache_root
from servegate.cluster.node.oci import dir_layer
from servegate.errors import UserError
from servegate.paths import IMAGES
from servegate.procs import run

RAY_VERSION = "2.46.0"
"""The Ray the image ships: the version the ray-serve unit's gpu overlay runs."""
LOCK = IMAGES / "ray" / "requirements.txt"
SITE = "/opt/ray"
PACKAGES = (*rootfs.PACKAGES, "wget")
LABEL = f"ray {RAY_VERSION} image"
STEPS = 6
"""Progress steps of a cold build: base, wheels, install, byte-compile, pack, archive."""

RAY_CLI = b'#!/bin/sh\nexec python3 -m ray.scripts.scripts "$@"\n'
"""``ray`` on PATH; pip's own script would name the build machine's interpreter."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def requirements(text: str | None = None) -> tuple[str, ...]:
    """The pinned ``name==version`` lines of the lock (``text``: its content, for tests)."""
    lines = (LOCK.read_text() if text is None else text).splitlines()
    pins: list[str] = []
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not _PIN.match(line):
            raise UserError(f"{LOCK.name}:{n}: not an exact pin (name==version): {line!r}")
        pins.append(line)
    if f"ray=={RAY_VERSION}" not in pins:
        raise UserError(f"{LOCK.name} does not pin ray=={RAY_VERSION}")
    return tuple(pins)


def _noop(label: str, done: int, total: int) -> None:
    """Default progress sink."""


def ray_layer(progress: ProgressFn = _noop) -> Path:
    """Cached tar of Ray Serve under /opt/ray plus the ``ray`` command (cold: minutes)."""
    reqs = requirements()
    key = hashlib.sha256("\n".join((*reqs, SITE, RAY_CLI.decode())).encode()).hexdigest()[:16]
    out = cache_root() / "images" / f"layer-ray-{RAY_VERSION}-{key}.tar"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    wheels = cache_root() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    fetch = [*pip, "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels)]
    progress(f"{LABEL}: wheels", 1, STEPS)
    # Offline from the cache when every wheel is there; else once from the index.
    offline = subprocess.run(
        [*fetch, "--no-index", "--find-links", str(wheels), *reqs],
        capture_output=True,
        check=False,
    )
    if offline.returncode != 0:
        run(
            [*fetch, *reqs],
            f"downloading Ray's {len(reqs)} wheels (offline: pre-fill ~/.cache/servegate/wheels)",
        )
    with tempfile.TemporaryDirectory(prefix="sg-ray-", dir=out.parent) as tmp:
        root = Path(tmp) / "root"
        site = root / SITE.lstrip("/")
        progress(f"{LABEL}: install", 2, STEPS)
        run(
            [
                *pip,
                "install",
                "--no-deps",
                "--no-index",
                "--find-links",
                str(wheels),
                "--no-compile",
                "--target",
                str(site),
                *reqs,
            ],
            "installing Ray's wheels",
        )
        shutil.rmtree(site / "bin", ignore_errors=True)
        progress(f"{LABEL}: byte-compile", 3, STEPS)
        # unchecked-hash: the layer's files all have mtime 0, so timestamp-checked .pyc files
        # would be judged stale and recompiled in every process that imports Ray.
        run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
                str(site),
            ],
            "byte-compiling Ray",
        )
        cli = root / "usr" / "local" / "bin" / "ray"
        cli.parent.mkdir(parents=True)
        cli.write_bytes(RAY_CLI)
        cli.chmod(0o755)
        progress(f"{LABEL}: pack", 4, STEPS)
        part = out.with_name(out.name + ".part")
        dir_layer(root, part)
        part.replace(out)
    return out


def prune(keep: Path) -> None:
    """Drop superseded Ray layers (each is hundreds of MB)."""
    for old in keep.parent.glob("layer-ray-*.tar"):
        if old != keep:
            old.unlink(missing_ok=True)
