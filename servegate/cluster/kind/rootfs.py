"""Debian bookworm trees for the kind node image and its kube-proxy image, without Docker.

Each tree is made by ``debootstrap --variant=minbase`` with a fixed package list, stripped
of documentation and apt's caches, and packed as one deterministic layer tar cached under
``~/.cache/servegate/images/`` by the hash of its recipe: the first build needs a Debian
mirror (``SERVEGATE_DEBIAN_MIRROR``) and takes minutes, later ones are cache hits.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.node.layout import cache_root
from servegate.cluster.node.rootfs import SUITE, mirror, pack_stripped
from servegate.errors import UserError

NODE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    "iproute2",
    "kmod",
    "procps",
    "ca-certificates",
)
"""The kind node: systemd as PID 1 (kind waits for it), Debian's containerd 1.6, runc and CNI
plugins (the same packages the embedded node runs), and what kubeadm and the kubelet call."""

PROXY_PACKAGES = ("iptables", "conntrack")
"""kube-proxy's image: iptables-save/restore and conntrack beside the static binary."""

_JUNK = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
    "var/log",
)


def layer_path(stem: str, packages: tuple[str, ...]) -> Path:
    """Cache entry of the tree with ``packages`` (the key is the whole recipe)."""
    recipe = f"{SUITE}|{','.join(packages)}|minbase|{','.join(_JUNK)}"
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    return cache_root() / "images" / f"layer-{stem}-{key}.tar"


def debootstrap_layer(stem: str, packages: tuple[str, ...], progress: ProgressFn) -> Path:
    """The cached layer tar of a bookworm minbase tree with ``packages``, built if missing.

    Progress counts the packages debootstrap has fetched and then unpacked (its ``I:``
    lines), so a build of several minutes shows it is moving."""
    out = layer_path(stem, packages)
    if out.is_file():
        return out
    if os.geteuid() != 0:
        raise UserError(
            "building servegate's kind node image needs root (debootstrap); "
            "or name a node image with --kind-image"
        )
    if shutil.which("debootstrap") is None:
        raise UserError("debootstrap not found: apt-get install debootstrap")
    out.parent.mkdir(parents=True, exist_ok=True)
    label = f"debootstrap {stem}"
    with tempfile.TemporaryDirectory(prefix="sg-kind-rootfs-", dir=out.parent) as tmp:
        root = Path(tmp) / "root"
        log = Path(tmp) / "debootstrap.log"
        argv = [
            "nice",
            "-n",
            "10",
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            SUITE,
            str(root),
            mirror(),
        ]
        _stream(argv, log, label, progress)
        pack_stripped(root, out, _JUNK)
    return out


def _stream(argv: list[str], log: Path, label: str, progress: ProgressFn) -> None:
    """Run debootstrap, counting its per-package lines as progress; one-line error on failure."""
    done = 0
    progress(label, 0, 0)
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        tail = ""
        try:
            for line in proc.stdout:
                fh.write(line)
                tail = line.strip() or tail
                if line.startswith(("I: Retrieving ", "I: Unpacking ", "I: Configuring ")):
                    done += 1
                    progress(label, done, 0)
        except BaseException:
            proc.kill()
            raise
        finally:
            rc = proc.wait()
    if rc != 0:
        raise UserError(
            f"debootstrap from {mirror()} failed ({tail}); set SERVEGATE_DEBIAN_MIRROR for a "
            f"local mirror"
        )
    progress(label, done, done)
