"""Official release downloads, for users whose machines reach the release hosts.

Each download is checked against the checksum published beside it; no checksum, no binary.
Offline machines (``SERVEGATE_OFFLINE=1``, or the first failed attempt) fall through to the
build quickly: the first connection attempt has a short timeout and its failure disables
further attempts in the same resolver.
"""

from __future__ import annotations

import hashlib
import io
import platform
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from servegate.cluster.versions import KUBERNETES_COMMANDS, Versions

TIMEOUT_S = 3.0


class DownloadError(Exception):
    """The release host is unreachable, or the file or its checksum is wrong."""


def go_arch() -> str:
    """Go's name for this machine's architecture."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


@dataclass(frozen=True)
class ReleaseAsset:
    """Where to fetch one binary and how to check it."""

    url: str
    sha256_url: str
    member: str | None = None  # path inside a .tar.gz, if the asset is an archive


def release_asset(name: str, versions: Versions, arch: str | None = None) -> ReleaseAsset | None:
    """The official asset for ``name``, or None where upstream publishes no checksum."""
    arch = arch or go_arch()
    if name in KUBERNETES_COMMANDS:
        url = f"https://dl.k8s.io/release/{versions.kubernetes}/bin/linux/{arch}/{name}"
        return ReleaseAsset(url=url, sha256_url=url + ".sha256")
    if name == "etcd":
        v = versions.etcd
        base = f"https://github.com/etcd-io/etcd/releases/download/{v}"
        stem = f"etcd-{v}-linux-{arch}"
        return ReleaseAsset(f"{base}/{stem}.tar.gz", f"{base}/SHA256SUMS", f"{stem}/etcd")
    return None  # kwok publishes bare binaries without a checksum file: build it instead


def _get(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data: bytes = resp.read()
            return data
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"{url}: {exc}") from None


def expected_sha256(checksums: str, filename: str) -> str:
    """Pick the digest for ``filename`` from a ``.sha256`` file or a SHA256SUMS list."""
    for line in checksums.splitlines():
        parts = line.split()
        if len(parts) == 1 and len(parts[0]) == 64:
            return parts[0].lower()
        if len(parts) == 2 and parts[1].lstrip("*").split("/")[-1] == filename:
            return parts[0].lower()
    raise DownloadError(f"no checksum for {filename}")


def fetch(asset: ReleaseAsset, dest: Path, timeout: float = TIMEOUT_S) -> None:
    """Download, verify and write an executable to ``dest`` (atomically)."""
    data = _get(asset.url, timeout)
    filename = asset.url.rsplit("/", 1)[-1]
    want = expected_sha256(_get(asset.sha256_url, timeout).decode("utf-8", "replace"), filename)
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise DownloadError(f"{asset.url}: checksum mismatch ({got} != {want})")
    if asset.member is not None:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                member = tar.extractfile(asset.member)
                if member is None:
                    raise DownloadError(f"{asset.url}: {asset.member} is not a file")
                data = member.read()
        except (tarfile.TarError, KeyError) as exc:
            raise DownloadError(f"{asset.url}: {exc}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.replace(dest)
