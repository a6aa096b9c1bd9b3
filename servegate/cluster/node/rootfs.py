"""The simulator image's root filesystem, built without Docker.

Layer 1 is a Debian bookworm ``minbase`` tree with python3 (3.11, like the host), made by
debootstrap and cached by its recipe. Layer 2 is servegate itself plus the simulator's
runtime dependencies, pip-installed into ``/opt/servegate`` from wheels cached locally,
so the second build is offline.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from servegate.cluster.node.layout import cache_root
from servegate.cluster.node.oci import dir_layer
from servegate.errors import UserError
from servegate.paths import REPO
from servegate.procs import run

SUITE = "bookworm"
PACKAGES = ("python3", "ca-certificates")
SIM_EXTRAS = ("uvloop",)
"""Optional speed-ups the simulator uses when present; always installed."""

_IMPORTS_PROBE = """
import importlib, pkgutil, sys
import servegate.cli.sim, servegate.sim
for m in pkgutil.walk_packages(servegate.sim.__path__, "servegate.sim."):
    importlib.import_module(m.name)
# the load engine, for Locust masters, workers and calibrations run as pods
import servegate.cli.calibrate, servegate.load.locustfile, locust.main
from importlib.metadata import packages_distributions
pd = packages_distributions()
for d in sorted({d for n in sys.modules for d in pd.get(n.split(".")[0], [])}):
    print("dist", d)
for n, m in sorted(sys.modules.items()):
    if n.split(".")[0] == "servegate" and getattr(m, "__file__", None):
        print("file", m.__file__)
"""


@dataclass(frozen=True)
class SimContents:
    """What the simulator and the load engine (Locust masters, workers and calibrations
    run as pods: servegate.k8s.loadpods) need at run time, found by importing them (not
    from a list)."""

    requirements: tuple[str, ...]
    files: tuple[Path, ...]
    """servegate's own modules the simulator imports (absolute paths in this checkout)."""

    def key(self) -> str:
        h = hashlib.sha256("\n".join(self.requirements).encode())
        for path in self.files:
            h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
        return h.hexdigest()


SITE = "/opt/servegate"
"""Where layer 2 installs servegate inside the image (on PYTHONPATH)."""


def mirror() -> str:
    return os.environ.get("SERVEGATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def base_layer(packages: tuple[str, ...] = PACKAGES) -> Path:
    """Cached tar of the debootstrapped bookworm tree with ``packages`` (built on first use,
    a few minutes); each package set is its own cache entry."""
    key = hashlib.sha256(f"{SUITE}|{','.join(packages)}|minbase".encode()).hexdigest()[:16]
    named = "-".join(p for p in packages if p != "ca-certificates")
    out = cache_root() / "images" / f"layer-bookworm-{named}-{key}.tar"
    if out.is_file():
        return out
    if shutil.which("debootstrap") is None:
        raise UserError("debootstrap not found: apt-get install debootstrap")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sg-rootfs-", dir=out.parent) as tmp:
        root = Path(tmp) / "root"
        run(
            [
                "nice",
                "-n",
                "10",
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                SUITE,
                str(root),
                mirror(),
            ],
            f"debootstrap from {mirror()} (set SERVEGATE_DEBIAN_MIRROR for a local mirror)",
        )
        pack_stripped(root, out, _JUNK)
    return out


_JUNK = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "var/log",
)
"""What a debootstrapped tree keeps empty in the image: apt's caches, docs and logs."""


def pack_stripped(root: Path, out: Path, junk: tuple[str, ...]) -> None:
    """Empty the ``junk`` directories of a debootstrapped ``root`` and pack it as one layer
    tar at ``out`` (written beside it first, so a cut build never leaves a cache entry)."""
    for name in junk:
        target = root / name
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
    part = out.with_name(out.name + ".part")
    dir_layer(root, part)
    part.replace(out)


def _pins() -> dict[str, str]:
    """name -> pinned version, from pyproject.toml's dependency list."""
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins: dict[str, str] = {}
    for dep in data["project"]["dependencies"]:
        name, _, ver = dep.partition("==")
        pins[name.strip().lower()] = ver.strip()
    return pins


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sim_contents() -> SimContents:
    proc = run(
        [sys.executable, "-c", _IMPORTS_PROBE],
        "importing servegate.sim to list its dependencies",
        lines=2,
        cwd=REPO,
    )
    pins = {_canon(k): v for k, v in _pins().items()}
    dists = {_canon(e) for e in SIM_EXTRAS}
    files: set[Path] = {REPO / "servegate" / "py.typed", REPO / "servegate" / "__main__.py"}
    for line in proc.stdout.splitlines():
        kind, _, value = line.partition(" ")
        if kind == "dist":
            dists.add(_canon(value))
        elif kind == "file" and Path(value).resolve().is_relative_to(REPO):
            path = Path(value).resolve()
            files.add(path)
            files.update(p for p in path.parent.glob("*.json"))  # package data (vocabularies)
    reqs = tuple(sorted(f"{d}=={pins[d]}" for d in dists if d in pins))
    return SimContents(reqs, tuple(sorted(f for f in files if f.is_file())))


def app_layer(contents: SimContents) -> Path:
    """Cached tar of servegate + the simulator's dependencies under /opt/servegate."""
    out = cache_root() / "images" / f"layer-servegate-{contents.key()[:16]}.tar"
    if out.is_file():
        return out
    wheels = cache_root() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    reqs = list(contents.requirements)
    # Download once (online); every later build installs offline from the cache.
    offline = subprocess.run(
        [
            *pip,
            "download",
            "--no-index",
            "--find-links",
            str(wheels),
            "-d",
            str(wheels),
            "--only-binary=:all:",
            *reqs,
        ],
        capture_output=True,
        check=False,
    )
    if offline.returncode != 0:
        run(
            [*pip, "download", "-d", str(wheels), "--only-binary=:all:", *reqs],
            "downloading the simulator's wheels (offline: pre-fill ~/.cache/servegate/wheels)",
        )
    with tempfile.TemporaryDirectory(prefix="sg-app-", dir=out.parent) as tmp:
        root = Path(tmp) / "root"
        site = root / SITE.lstrip("/")
        run(
            [
                *pip,
                "install",
                "--no-index",
                "--find-links",
                str(wheels),
                "--no-compile",
                "--target",
                str(site),
                *reqs,
            ],
            "installing the simulator's wheels",
        )
        for path in contents.files:
            target = site / path.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        part = out.with_name(out.name + ".part")
        dir_layer(root, part)
        part.replace(out)
    return out
