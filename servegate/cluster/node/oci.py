"""Pack image tarballs by hand: no Docker, no registry, no buildkit.

We write the docker-archive format (``manifest.json`` + config + uncompressed layer tars),
which ``ctr images import`` reads. Layers are written deterministically (sorted entries,
mtime 0, root ownership) so that the same inputs give byte-identical tarballs, and the
content hash can key the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from servegate.errors import UserError


@dataclass(frozen=True)
class FileEntry:
    """One regular file to put in a layer."""

    path: str
    """Absolute path inside the image."""
    data: bytes
    mode: int = 0o755


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: Sequence[str]
    cmd: Sequence[str] = ()
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    workdir: str = "/"
    user: str = ""
    exposed_ports: Sequence[int] = ()
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    """The signal ``docker stop`` sends (systemd as PID 1 wants SIGRTMIN+3); empty: Docker's."""


def _norm(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def files_layer(entries: Iterable[FileEntry]) -> bytes:
    """A layer tar holding ``entries`` and their parent directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        items = sorted(entries, key=lambda e: e.path)
        for e in items:
            parts = e.path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            info = _norm(tarfile.TarInfo(d))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for e in items:
            info = _norm(tarfile.TarInfo(e.path.strip("/")))
            info.size = len(e.data)
            info.mode = e.mode
            tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def dir_layer(root: Path, out: Path) -> None:
    """Write the tree under ``root`` as a layer tar at ``out`` (sorted, mtime 0, root-owned).

    Symlinks and hard links are kept as links; device nodes and sockets are skipped (the
    runtime provides /dev).
    """

    def add(tar: tarfile.TarFile, path: Path, arc: str) -> None:
        st = path.lstat()
        if not (
            os.path.isdir(path) or os.path.islink(path) or os.path.isfile(path)
        ) or arc.startswith("dev/"):
            return
        info = _norm(tar.gettarinfo(str(path), arcname=arc))
        info.mode = st.st_mode & 0o7777
        if info.isreg():
            with path.open("rb") as fh:
                tar.addfile(info, fh)
        else:
            tar.addfile(info)
        if info.isdir():
            for child in sorted(os.listdir(path)):
                add(tar, path / child, f"{arc}/{child}")

    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for child in sorted(os.listdir(root)):
            add(tar, root / child, child)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_archive(ref: str, layers: Sequence[Path | bytes], config: ImageConfig, out: Path) -> str:
    """Write a docker-archive tarball of ``layers`` tagged ``ref``; return its image id."""
    if ":" not in ref.rsplit("/", 1)[-1]:
        raise UserError(f"image reference {ref!r} needs an explicit tag")
    diff_ids: list[str] = []
    layer_names: list[str] = []
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for layer in layers:
            if isinstance(layer, bytes):
                digest = hashlib.sha256(layer).hexdigest()
                info = _norm(tarfile.TarInfo(f"{digest}/layer.tar"))
                info.size = len(layer)
                tar.addfile(info, io.BytesIO(layer))
            else:
                digest = _sha256_file(layer)
                info = _norm(tar.gettarinfo(str(layer), arcname=f"{digest}/layer.tar"))
                with layer.open("rb") as fh:
                    tar.addfile(info, fh)
            diff_ids.append(f"sha256:{digest}")
            layer_names.append(f"{digest}/layer.tar")
        cfg = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": list(config.entrypoint),
                "Cmd": list(config.cmd) or None,
                "Env": list(config.env),
                "WorkingDir": config.workdir,
                "User": config.user,
                "Labels": dict(config.labels) or None,
                "ExposedPorts": {f"{p}/tcp": {} for p in config.exposed_ports} or None,
                **({"StopSignal": config.stop_signal} if config.stop_signal else {}),
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "servegate"} for _ in diff_ids],
        }
        cfg_bytes = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
        image_id = hashlib.sha256(cfg_bytes).hexdigest()
        for name, data in (
            (f"{image_id}.json", cfg_bytes),
            (
                "manifest.json",
                json.dumps(
                    [{"Config": f"{image_id}.json", "RepoTags": [ref], "Layers": layer_names}]
                ).encode(),
            ),
        ):
            info = _norm(tarfile.TarInfo(name))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)
    return image_id
