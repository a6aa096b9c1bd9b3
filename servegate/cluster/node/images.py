"""The node's locally built images: pause, probe and the simulator.

No image is ever pulled. Each image is assembled from local inputs, packed to a
docker-archive tarball cached under ``~/.cache/servegate/images/`` keyed by the hash of its
inputs, and imported into containerd's k8s.io namespace. The names are written to
``images.toml`` next to this module's users (see :func:`write_manifest`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from servegate.cluster.node import gobuild, rootfs
from servegate.cluster.node.layout import cache_root
from servegate.cluster.node.oci import FileEntry, ImageConfig, files_layer, write_archive

REGISTRY = "servegate.local"
VERSION = "0.1.0"
"""Tag of every local image; the content is identified by the cache key, not the tag."""

PAUSE = f"{REGISTRY}/pause:{VERSION}"
PROBE = f"{REGISTRY}/probe:{VERSION}"
SIM = f"{REGISTRY}/sim:{VERSION}"
FAKEGPU = f"{REGISTRY}/fakegpu:{VERSION}"


@dataclass(frozen=True)
class Built:
    ref: str
    tarball: Path
    cached: bool
    seconds: float


def _static_image(ref: str, program: str, entry: list[str]) -> Built:
    t0 = time.monotonic()
    binary = gobuild.build(program)
    data = binary.read_bytes()
    key = hashlib.sha256(ref.encode() + b"\0" + data).hexdigest()[:16]
    out = cache_root() / "images" / f"{ref.split('/')[-1].replace(':', '-')}-{key}.tar"
    cached = out.is_file()
    if not cached:
        out.parent.mkdir(parents=True, exist_ok=True)
        layer = files_layer([FileEntry(f"/{program}", data, 0o755)])
        write_archive(ref, [layer], ImageConfig(entrypoint=entry), out)
    return Built(ref, out, cached, time.monotonic() - t0)


def pause() -> Built:
    return _static_image(PAUSE, "pause", ["/pause"])


def probe() -> Built:
    return _static_image(PROBE, "probe", ["/probe"])


def fakegpu() -> Built:
    """The device plugin as an image, for clusters whose nodes are containers (kind)."""
    return _static_image(FAKEGPU, "fakegpu", ["/fakegpu"])


#: The simulator image's configuration. ``servegate sim`` binds 127.0.0.1 unless told
#: otherwise; in a container the network namespace is the pod's own, and the kubelet's
#: probes and the Service reach the pod's IP, so the image tells it to listen on all.
SIM_CONFIG = ImageConfig(
    entrypoint=["python3", "-m", "servegate", "sim"],
    env=(
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        f"PYTHONPATH={rootfs.SITE}",
        "PYTHONUNBUFFERED=1",
        "PYTHONDONTWRITEBYTECODE=1",
        "SERVEGATE_SIM_HOST=0.0.0.0",
    ),
    exposed_ports=(8000,),
)


def sim() -> Built:
    """Debian bookworm + python3, plus servegate's simulator; entrypoint ``servegate sim``."""
    t0 = time.monotonic()
    base = rootfs.base_layer()
    contents = rootfs.sim_contents()
    key = hashlib.sha256(f"{contents.key()}\0{SIM_CONFIG!r}".encode()).hexdigest()
    app = rootfs.app_layer(contents)
    out = cache_root() / "images" / f"sim-{VERSION}-{key[:16]}.tar"
    cached = out.is_file()
    if not cached:
        write_archive(SIM, [base, app], SIM_CONFIG, out)
    _prune(out.parent, "sim-*.tar", keep=out)
    _prune(out.parent, "layer-servegate-*.tar", keep=app)
    return Built(SIM, out, cached, time.monotonic() - t0)


def _prune(cache: Path, pattern: str, keep: Path) -> None:
    """Drop superseded builds: the simulator's sources change often, each build is 150 MB."""
    for old in cache.glob(pattern):
        if old != keep:
            old.unlink(missing_ok=True)


BUILDERS: dict[str, Callable[[], Built]] = {"pause": pause, "probe": probe, "sim": sim}


def write_manifest(path: Path, built: list[Built]) -> None:
    """Record the image names and tarballs for the cluster's other parts and the manifests."""
    doc = {
        "images": {
            b.ref.split("/")[-1].split(":")[0]: {"ref": b.ref, "tarball": str(b.tarball)}
            for b in built
        }
    }
    path.write_text(tomli_w.dumps(doc))
