"""servegate's kind node image, assembled offline from the pinned Kubernetes version.

``kind build node-image`` needs a registry (it fetches pause, etcd, CoreDNS, kindnetd and
local-path images) and a containerd newer than Debian's, so the image is put together here:

- layer 1: a Debian bookworm tree with systemd, containerd 1.6, runc and the CNI plugins
  (:mod:`servegate.cluster.kind.rootfs`, cached);
- layer 2: kubeadm, kubelet and kubectl from the project's own Kubernetes build (the binary
  cache of :mod:`servegate.cluster.binaries`), the files of :mod:`.nodefiles`, and
  containerd's image store already holding every image kubeadm starts: kube-apiserver,
  kube-controller-manager, kube-scheduler, kube-proxy (the same binaries), etcd and CoreDNS
  (the embedded cluster's builds) and the pause image, each packed here as a small image.

The store is filled by running the host's containerd (the same Debian package as the node's)
on a scratch directory and importing the image tarballs with ``ctr``. The result is a
docker-archive tarball cached as ``~/.cache/servegate/kind/node-<version>-<key>.tar``, the key
being the hash of every input, and tagged ``servegate.local/kind-node:<version>-<key>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.cluster.binaries import BinaryResolver, Resolved
from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.kind import nodefiles, rootfs
from servegate.cluster.node import addons as node_addons
from servegate.cluster.node import images as node_images
from servegate.cluster.node.layout import cache_root
from servegate.cluster.node.oci import FileEntry, ImageConfig, dir_layer, files_layer, write_archive
from servegate.cluster.versions import Versions
from servegate.errors import UserError
from servegate.procs import ProcessTable, run
from servegate.wait import wait_until

RECIPE = "1"
"""Bumped when the assembly changes in a way the inputs' hashes do not show."""

REPOSITORY = "servegate.local/kind"
"""imageRepository kubeadm is told to use (see config.kubeadm_patches)."""
NODE_REPOSITORY = "servegate.local/kind-node"

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_COMMANDS = ("kubeadm", "kubelet", "kubectl")
BINARIES = (*NODE_COMMANDS, *CONTROL_PLANE, "kube-proxy", "etcd")

Log = Callable[[str], None]


@dataclass(frozen=True)
class NodeImage:
    """A node image archive ready for ``docker load``."""

    ref: str
    tarball: Path
    cached: bool
    seconds: float
    etcd_tag: str
    coredns_tag: str


@dataclass(frozen=True)
class _Inputs:
    versions: Versions
    binaries: dict[str, Resolved]
    coredns: Path
    pause: Path
    node_base: Path
    proxy_base: Path

    def _stamp(self, h: Any, name: str, path: Path) -> None:
        """File names carry versions and content keys; binaries add size and modification
        time (hashing 600 MB on every ``up`` would cost seconds)."""
        st = path.stat()
        h.update(f"{name} {path} {st.st_size} {st.st_mtime_ns}\n".encode())

    def preload_key(self) -> str:
        """Hash of what the preloaded image store holds."""
        h = hashlib.sha256(f"recipe {RECIPE}\n".encode())
        for name in (*CONTROL_PLANE, "kube-proxy", "etcd"):
            self._stamp(h, name, self.binaries[name].path)
        self._stamp(h, "coredns", self.coredns)
        for part in (self.pause, self.proxy_base):
            h.update(f"{part.name}\n".encode())
        h.update(json.dumps(image_refs(self.versions), sort_keys=True).encode())
        return h.hexdigest()

    def key(self) -> str:
        """Hash of every input of the node image."""
        h = hashlib.sha256(f"recipe {RECIPE}\n{self.preload_key()}\n".encode())
        for name in NODE_COMMANDS:
            self._stamp(h, name, self.binaries[name].path)
        h.update(f"{self.node_base.name}\n".encode())
        for f in nodefiles.node_files(self.versions.kubernetes, node_images.PAUSE):
            h.update(f"{f.path} {f.mode:o}\n{f.text}\n".encode())
        h.update(json.dumps(nodefiles.unit_links(), sort_keys=True).encode())
        return h.hexdigest()


def archive_dir() -> Path:
    return cache_root() / "kind"


def build(versions: Versions, progress: ProgressFn, log: Log) -> NodeImage:
    """The cached node image of ``versions.kubernetes``, assembled if missing."""
    t0 = time.monotonic()
    inputs = _gather(versions, progress, log)
    key = inputs.key()[:12]
    tag = f"{versions.kubernetes}-{key}"
    ref = f"{NODE_REPOSITORY}:{tag}"
    out = archive_dir() / f"node-{tag}.tar"
    etcd_tag, coredns_tag = versions.etcd, versions.node["coredns"]
    if out.is_file():
        return NodeImage(ref, out, True, time.monotonic() - t0, etcd_tag, coredns_tag)
    out.parent.mkdir(parents=True, exist_ok=True)
    step = _steps(log)
    preload = _preload_layer(inputs, step)
    with tempfile.TemporaryDirectory(prefix="sg-kind-node-", dir=out.parent) as tmp:
        step("writing kubeadm, kubelet, kubectl and the node's configuration")
        stage = Path(tmp) / "stage"
        _stage_files(stage, inputs)
        layer = Path(tmp) / "layer-servegate.tar"
        dir_layer(stage, layer)
        step(f"writing the node image {ref}")
        config = ImageConfig(
            entrypoint=["/usr/local/bin/entrypoint", "/sbin/init"],
            env=(
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "container=docker",  # systemd reads it: it runs in a container
            ),
            stop_signal="SIGRTMIN+3",  # systemd's "halt"; SIGTERM would make it re-execute
            labels={"dev.servegate.kubernetes": versions.kubernetes},
        )
        write_archive(ref, [inputs.node_base, preload, layer], config, out)
        step(None)
    _prune(out.parent, "node-*.tar", out)  # each is about 1 GB
    return NodeImage(ref, out, False, time.monotonic() - t0, etcd_tag, coredns_tag)


def _prune(directory: Path, pattern: str, keep: Path) -> None:
    for old in directory.glob(pattern):
        if old != keep:
            old.unlink(missing_ok=True)


def _preload_layer(inputs: _Inputs, step: Callable[[str | None], None]) -> Path:
    """Cached layer holding /var/lib/containerd with every image the node starts."""
    out = archive_dir() / f"layer-preload-{inputs.preload_key()[:16]}.tar"
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory(prefix="sg-kind-preload-", dir=out.parent) as tmp:
        work = Path(tmp)
        step("packing the control-plane, etcd, CoreDNS and kube-proxy images")
        tarballs = _component_images(inputs, work / "images")
        step("preloading them into a containerd image store (the host's containerd)")
        stage = work / "stage"
        _preload(stage / "var" / "lib" / "containerd", tarballs, work / "ctd")
        part = out.with_name(out.name + ".part")
        dir_layer(stage, part)
        part.replace(out)
    _prune(out.parent, "layer-preload-*.tar", out)
    return out


def _steps(log: Log) -> Callable[[str | None], None]:
    """Announce numbered steps with the time the previous one took."""
    state = {"n": 0, "t": time.monotonic()}

    def step(what: str | None) -> None:
        now = time.monotonic()
        if state["n"]:
            log(f"kind node image: step {state['n']} took {now - state['t']:.0f}s")
        if what is not None:
            state["n"] += 1
            log(f"kind node image: step {state['n']} {what}")
        state["t"] = now

    return step


def _gather(versions: Versions, progress: ProgressFn, log: Log) -> _Inputs:
    """Find or build every input: binaries, CoreDNS, pause, the two Debian trees."""
    resolver = BinaryResolver(versions, progress=progress)
    missing = [n for n in BINARIES if resolver.lookup(n, wheel=False) is None]
    if missing:
        log(f"kind node image: building {', '.join(missing)} {versions.kubernetes} (cached after)")
    bins = resolver.resolve_all(BINARIES, wheel=False)
    if bins["etcd"].source == "debian":
        raise UserError("the kind node image needs etcd built from the Go module proxy")
    coredns = node_addons.coredns_binary(versions.node["coredns"])
    pause = node_images.pause().tarball
    for stem in ("kindnode", "kindproxy"):
        packages = rootfs.NODE_PACKAGES if stem == "kindnode" else rootfs.PROXY_PACKAGES
        if not rootfs.layer_path(stem, packages).is_file():
            log(f"kind node image: debootstrap of the {stem} tree (cached after)")
    node_base = rootfs.debootstrap_layer("kindnode", rootfs.NODE_PACKAGES, progress)
    proxy_base = rootfs.debootstrap_layer("kindproxy", rootfs.PROXY_PACKAGES, progress)
    return _Inputs(versions, bins, coredns, pause, node_base, proxy_base)


def image_refs(versions: Versions) -> dict[str, str]:
    """The image kubeadm asks for, per component, under :data:`REPOSITORY`."""
    refs = {n: f"{REPOSITORY}/{n}:{versions.kubernetes}" for n in (*CONTROL_PLANE, "kube-proxy")}
    refs["etcd"] = f"{REPOSITORY}/etcd:{versions.etcd}"
    refs["coredns"] = f"{REPOSITORY}/coredns:{versions.node['coredns']}"
    return refs


def _component_images(inputs: _Inputs, out: Path) -> list[Path]:
    """docker-archive tarballs of every image the node's containerd must already hold."""
    out.mkdir(parents=True)
    refs = image_refs(inputs.versions)
    tarballs = [inputs.pause]
    for name in (*CONTROL_PLANE, "kube-proxy", "etcd", "coredns"):
        binary = inputs.coredns if name == "coredns" else inputs.binaries[name].path
        where = "/coredns" if name == "coredns" else f"/usr/local/bin/{name}"
        layer = files_layer([FileEntry(where, binary.read_bytes(), 0o755)])
        layers: list[Path | bytes] = [layer]
        if name == "kube-proxy":  # iptables and conntrack come from Debian
            layers = [inputs.proxy_base, layer]
        entry = [where] if name == "coredns" else []
        target = out / f"{name}.tar"
        write_archive(refs[name], layers, ImageConfig(entrypoint=entry), target)
        tarballs.append(target)
    return tarballs


def _preload(root: Path, tarballs: list[Path], scratch: Path) -> None:
    """Import ``tarballs`` into a containerd store at ``root`` (namespace k8s.io).

    The host's containerd runs on ``root`` with its own socket and state under ``scratch``,
    the CRI plugin off. Images are imported without unpacking, layers gzip-compressed: the
    node's containerd unpacks each the first time a container uses it."""
    containerd = shutil.which("containerd")
    if containerd is None or shutil.which("ctr") is None:
        raise UserError("building the kind node image needs Debian's 'containerd' package")
    scratch.mkdir(parents=True)
    root.mkdir(parents=True)
    sock = scratch / "c.sock"
    config = scratch / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{root}"\n'
        f'state = "{scratch / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\naddress = "{sock}"\n'
        f'[plugins."io.containerd.internal.v1.opt"]\npath = "{scratch / "opt"}"\n'
    )
    procs = ProcessTable(scratch / "run", keep_argv=False)
    procs.start("containerd", [containerd, "--config", str(config)])
    ctr = ["ctr", "--address", str(sock), "--namespace", "k8s.io"]
    try:
        answering = wait_until(
            lambda: (
                procs.alive("containerd")
                and subprocess.run([*ctr, "version"], capture_output=True, check=False).returncode
                == 0
            ),
            30,
        )
        if not answering:
            raise UserError(f"containerd for the node image did not start; see {scratch}/run")
        for tar in tarballs:
            run(
                [*ctr, "images", "import", "--no-unpack", str(tar)],
                f"importing {tar.name} into the node image's containerd store",
            )
    finally:
        procs.stop("containerd", timeout=20)


def _stage_files(stage: Path, inputs: _Inputs) -> None:
    """Write layer 2's files under ``stage``: binaries, configuration, unit links."""
    for f in nodefiles.node_files(inputs.versions.kubernetes, node_images.PAUSE):
        target = stage / f.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.text, "utf-8")
        target.chmod(f.mode)
    for link, dest in nodefiles.unit_links().items():
        target = stage / link.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(dest, target)
    for name in NODE_COMMANDS:
        target = stage / "usr" / "bin" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inputs.binaries[name].path, target)
        target.chmod(0o755)
    (stage / "etc" / "kubernetes" / "manifests").mkdir(parents=True)
