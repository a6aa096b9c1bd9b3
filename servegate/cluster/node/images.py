"""The node's locally built images: pause, probe, the simulator and the other servers.

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

from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.node import enginebuild, gobuild, llmdsim, rayimage, rootfs, tinymodel
from servegate.cluster.node.layout import cache_root
from servegate.cluster.node.oci import FileEntry, ImageConfig, files_layer, write_archive
from servegate.errors import UserError
from servegate.paths import REPO

REGISTRY = "servegate.local"
VERSION = "0.1.0"
"""Tag of every local image; the content is identified by the cache key, not the tag."""

PAUSE = f"{REGISTRY}/pause:{VERSION}"
PROBE = f"{REGISTRY}/probe:{VERSION}"
SIM = f"{REGISTRY}/sim:{VERSION}"
FAKEGPU = f"{REGISTRY}/fakegpu:{VERSION}"
ENGINE = f"{REGISTRY}/engine:{enginebuild.SDIST_VERSION}"
"""llama.cpp's llama-server; tagged with the version of the sdist its sources come from."""
ENGINE_MODEL = "/models/tiny-llama.gguf"


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


#: The engine image: no base layer, only the binary, the glibc files ``ldd`` lists for it,
#: llama.cpp's licence and the model. The manifests pass the server's flags.
ENGINE_CONFIG = ImageConfig(
    entrypoint=["/llama-server"],
    cmd=["--model", ENGINE_MODEL, "--host", "0.0.0.0", "--port", "8000", "--metrics"],
    exposed_ports=(8000,),
    env=("PATH=/", "LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu"),
)


def engine(progress: ProgressFn | None = None) -> Built:
    """llama-server (built from the pinned sources, cached) + its shared libraries + the
    tiny model, as one layer; entrypoint ``/llama-server``."""
    t0 = time.monotonic()
    server = enginebuild.build(progress) if progress else enginebuild.build()
    model = tinymodel.build()
    libs = enginebuild.shared_libraries(server.server)
    h = hashlib.sha256(f"{ENGINE}\0{ENGINE_CONFIG!r}\0{server.server.parent.name}".encode())
    h.update(model.name.encode())
    for lib in libs:
        h.update(str(lib).encode() + b"\0" + hashlib.sha256(lib.read_bytes()).digest())
    out = cache_root() / "images" / f"engine-{enginebuild.SDIST_VERSION}-{h.hexdigest()[:16]}.tar"
    cached = out.is_file()
    if not cached:
        out.parent.mkdir(parents=True, exist_ok=True)
        entries = [
            FileEntry("/llama-server", server.server.read_bytes(), 0o755),
            FileEntry("/licenses/llama.cpp/LICENSE", server.licence.read_bytes(), 0o644),
            FileEntry(ENGINE_MODEL, model.read_bytes(), 0o644),
            *(FileEntry(str(lib), lib.read_bytes(), 0o755) for lib in libs),
        ]
        write_archive(ENGINE, [files_layer(entries)], ENGINE_CONFIG, out)
        _prune(out.parent, "engine-*.tar", keep=out)
    return Built(ENGINE, out, cached and server.cached, time.monotonic() - t0)


LLMD_SIM = f"{REGISTRY}/llmd-sim:{llmdsim.VERSION}"
"""llm-d-inference-sim (Go, built from the module proxy); tagged with its module version."""

#: The llm-d simulator's image: the static binary and its licence, nothing else. The
#: manifests pass the flags; the image's default serves like the loopback runs.
LLMD_SIM_CONFIG = ImageConfig(
    entrypoint=[f"/{llmdsim.BINARY}"],
    cmd=["--port", "8000", *llmdsim.SERVE_FLAGS],
    exposed_ports=(8000,),
)


def llmd_sim(progress: ProgressFn | None = None) -> Built:
    """llm-d-inference-sim (built from the pinned module version, cached) as one layer."""
    t0 = time.monotonic()
    sim_build = llmdsim.build(progress) if progress else llmdsim.build()
    data = sim_build.binary.read_bytes()
    h = hashlib.sha256(f"{LLMD_SIM}\0{LLMD_SIM_CONFIG!r}\0".encode() + data)
    out = cache_root() / "images" / f"llmd-sim-{llmdsim.VERSION}-{h.hexdigest()[:16]}.tar"
    cached = out.is_file()
    if not cached:
        out.parent.mkdir(parents=True, exist_ok=True)
        entries = [
            FileEntry(f"/{llmdsim.BINARY}", data, 0o755),
            FileEntry(f"/licenses/{llmdsim.BINARY}/LICENSE", sim_build.licence.read_bytes(), 0o644),
        ]
        write_archive(LLMD_SIM, [files_layer(entries)], LLMD_SIM_CONFIG, out)
        _prune(out.parent, "llmd-sim-*.tar", keep=out)
    return Built(LLMD_SIM, out, cached and sim_build.cached, time.monotonic() - t0)


RAY = f"{REGISTRY}/ray:{rayimage.RAY_VERSION}"
"""Ray Serve and servegate's simulator application; tagged with the Ray version it ships."""

#: KubeRay gives the Ray containers their command (``ray start`` in a login shell); the
#: entrypoint only serves ``ctr run`` by hand. Servegate's modules come first on the path, so
#: the simulator's pinned packages win over a different version pulled in by Ray.
RAY_CONFIG = ImageConfig(
    entrypoint=["/usr/local/bin/ray"],
    env=(
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        f"PYTHONPATH={rootfs.SITE}:{rayimage.SITE}",
        "PYTHONUNBUFFERED=1",
        "PYTHONDONTWRITEBYTECODE=1",
    ),
    exposed_ports=(6379, 8265, 8000),
)


def ray(progress: ProgressFn | None = None) -> Built:
    """Debian bookworm + python3 + wget, Ray Serve (pinned wheels), the simulator's layer
    (shared with the simulator image) and ``servegate.rayserve``, the Serve application."""
    t0 = time.monotonic()
    step = progress or (lambda _label, _done, _total: None)
    step(f"{rayimage.LABEL}: debootstrap {' '.join(rayimage.PACKAGES)}", 0, rayimage.STEPS)
    base = rootfs.base_layer(rayimage.PACKAGES)
    ray_layer = rayimage.ray_layer(step)
    app = rootfs.app_layer(rootfs.sim_contents())
    sources = sorted((REPO / "servegate" / "rayserve").glob("*.py"))
    entries = [
        FileEntry(f"{rootfs.SITE}/{p.relative_to(REPO)}", p.read_bytes(), 0o644) for p in sources
    ]
    h = hashlib.sha256(f"{RAY}\0{RAY_CONFIG!r}\0{base.name}\0{ray_layer.name}\0{app.name}".encode())
    for e in entries:
        h.update(e.path.encode() + b"\0" + e.data)
    out = cache_root() / "images" / f"ray-{rayimage.RAY_VERSION}-{h.hexdigest()[:16]}.tar"
    cached = out.is_file()
    if not cached:
        step(f"{rayimage.LABEL}: archive", 5, rayimage.STEPS)
        write_archive(RAY, [base, ray_layer, app, files_layer(entries)], RAY_CONFIG, out)
    step(f"{rayimage.LABEL}: ready", rayimage.STEPS, rayimage.STEPS)
    _prune(out.parent, "ray-*.tar", keep=out)
    rayimage.prune(ray_layer)
    return Built(RAY, out, cached, time.monotonic() - t0)


BUILDERS: dict[str, Callable[[], Built]] = {
    "pause": pause,
    "probe": probe,
    "sim": sim,
    "engine": engine,
    "llmd-sim": llmd_sim,
    "ray": ray,
}
WITH_PROGRESS: dict[str, Callable[[ProgressFn | None], Built]] = {
    "engine": engine,
    "llmd-sim": llmd_sim,
    "ray": ray,
}
"""The builders that report progress (minutes when cold)."""


def build(name: str, progress: ProgressFn | None = None) -> Built:
    """The named image of :data:`BUILDERS`, built or taken from the cache."""
    if name not in BUILDERS:
        raise UserError(f"no local image {name!r}; known: {', '.join(sorted(BUILDERS))}")
    if name in WITH_PROGRESS:
        return WITH_PROGRESS[name](progress)
    return BUILDERS[name]()


def write_manifest(path: Path, built: list[Built]) -> None:
    """Record the image names and tarballs for the cluster's other parts and the manifests."""
    doc = {
        "images": {
            b.ref.split("/")[-1].split(":")[0]: {"ref": b.ref, "tarball": str(b.tarball)}
            for b in built
        }
    }
    path.write_text(tomli_w.dumps(doc))
