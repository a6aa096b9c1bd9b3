"""One kind cluster made by servegate, through pytest-kind: up, down, status.

``up``: a Docker daemon (:mod:`.dockerhost`: an existing one, else servegate's own), the
node image (servegate's, built offline from the pinned Kubernetes version and loaded into
Docker once; or the image named by ``--kind-image`` / ``SERVEGATE_KIND_IMAGE``), the cluster
created by pytest-kind with servegate's configuration (:mod:`.config`), servegate's images
loaded with ``kind load image-archive``, and simulated GPUs (:mod:`.gpus`). ``down``:
the cluster deleted, then servegate's daemon stopped and the host restored, when no other
container is left in it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servegate.cluster import paths
from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.kind import dockerhost, gpus, nodeimage
from servegate.cluster.kind.config import ClusterConfig
from servegate.cluster.node import images as node_images
from servegate.cluster.node.layout import GpuSpec, cache_root
from servegate.cluster.versions import load_versions
from servegate.errors import UserError

KIND_MODULE = "sigs.k8s.io/kind"
KIND_VERSION = "v0.33.0"
"""kind built from the Go module proxy when it is not on PATH: pytest-kind would otherwise
download it from GitHub at run time, which has no offline path."""

IMAGE_ENV = "SERVEGATE_KIND_IMAGE"

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    """Default log sink."""


def _no_progress(label: str, done: int, total: int) -> None:
    """Default progress sink."""


def kind_binary() -> Path:
    """``kind`` from PATH, else a cached build of KIND_MODULE@KIND_VERSION."""
    found = shutil.which("kind")
    if found:
        return Path(found)
    from servegate.cluster.node.gobuild import go_install

    return go_install(KIND_MODULE, KIND_VERSION, cache_root() / "bin" / f"kind-{KIND_VERSION}")


@dataclass
class KindUp:
    """What ``up`` did."""

    kubeconfig: Path
    context: str
    created: bool
    image: str
    timings: dict[str, float] = field(default_factory=dict)


class KindCluster:
    """A kind cluster named ``name``, its kubeconfig under servegate's state directory."""

    def __init__(
        self,
        name: str = "servegate",
        image: str | None = None,
        log: Log = _quiet,
        progress: ProgressFn = _no_progress,
        fake_gpus: bool = True,
    ) -> None:
        self.name = paths.check_name(name)
        self.image = image or os.environ.get(IMAGE_ENV) or None
        self.log, self.progress = log, progress
        self.fake_gpus = fake_gpus
        self.workdir = paths.state_root() / f"kind-{self.name}"
        self.docker = dockerhost.DockerHost(log)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def context(self) -> str:
        return f"kind-{self.name}"

    # -- pytest-kind and the kind CLI ---------------------------------------------------------
    def _pytest_kind(self) -> Any:
        from pytest_kind import KindCluster as PytestKind

        self.workdir.mkdir(parents=True, exist_ok=True)
        kind = kind_binary()
        cwd = Path.cwd()
        os.chdir(self.workdir)  # pytest-kind creates .pytest-kind/ in the working directory
        try:
            return PytestKind(self.name, kubeconfig=self.kubeconfig, kind_path=kind)
        finally:
            os.chdir(cwd)

    @contextmanager
    def _docker(self, start: bool) -> Iterator[dockerhost.Endpoint | None]:
        """The daemon to use (started if ``start``, and then kept from being stopped by another
        servegate process meanwhile), with os.environ pointing kind at it."""
        if start:
            with self.docker.in_use() as endpoint, self.docker.environment(endpoint):
                yield endpoint
            return
        found = self.docker.endpoint()
        if found is None:
            yield None
            return
        with self.docker.environment(found):
            yield found

    def _kind(self, *args: str, what: str) -> str:
        proc = subprocess.run(
            [str(kind_binary()), *args], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
            raise UserError(f"{what} failed: {tail}")
        return proc.stdout

    def _exists(self) -> bool:
        return self.name in self._kind("get", "clusters", what="kind get clusters").split()

    def exists(self) -> bool:
        """The cluster is there (False when no Docker daemon answers)."""
        with self._docker(start=False) as endpoint:
            return endpoint is not None and self._exists()

    # -- up ----------------------------------------------------------------------------------
    def up(self) -> KindUp:
        """Create the cluster, or reuse it if it exists; return its kubeconfig and context.

        A failure stops the Docker daemon this call started (when it holds nothing else)."""
        started_docker = not self.docker.running() and self.docker.existing() is None
        try:
            return self._up()
        except BaseException:
            if started_docker:
                self.docker.stop()
            raise

    def _up(self) -> KindUp:
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        with self._docker(start=True) as endpoint:
            assert endpoint is not None
            timings["docker"] = time.monotonic() - t0
            if self._exists():
                self.workdir.mkdir(parents=True, exist_ok=True)
                self._kind(
                    "export",
                    "kubeconfig",
                    "--name",
                    self.name,
                    "--kubeconfig",
                    str(self.kubeconfig),
                    what="kind export kubeconfig",
                )
                return KindUp(self.kubeconfig, self.context, False, "", timings)
            t = time.monotonic()
            config = self._config(endpoint)
            timings["node image"] = time.monotonic() - t
            self.workdir.mkdir(parents=True, exist_ok=True)
            path = self.workdir / "kind.yaml"
            path.write_text(config.yaml())
            t = time.monotonic()
            self.log(f"creating kind cluster {self.name} with {config.image}")
            try:
                self._pytest_kind().create(config_file=path)
            except subprocess.CalledProcessError:
                raise UserError(
                    f"kind create cluster {self.name} failed (its output is above); "
                    f"'servegate cluster down --provider kind --name {self.name}' cleans up"
                ) from None
            timings["create"] = time.monotonic() - t
            try:
                self._finish(timings)
            except BaseException:
                with contextlib.suppress(subprocess.CalledProcessError):
                    self._pytest_kind().delete()  # half-made: a later up must not reuse it
                raise
        timings["total"] = time.monotonic() - t0
        return KindUp(self.kubeconfig, self.context, True, config.image, timings)

    def _finish(self, timings: dict[str, float]) -> None:
        """servegate's images into the node, then the simulated GPUs."""
        t = time.monotonic()
        self._load_images()
        timings["load images"] = time.monotonic() - t
        if self.fake_gpus:
            t = time.monotonic()
            gpus.install(self.kubectl(), GpuSpec())
            timings["fake gpus"] = time.monotonic() - t

    def _config(self, endpoint: dockerhost.Endpoint) -> ClusterConfig:
        restrict = dockerhost.lacks_sys_resource()
        if restrict:
            self.log(
                "note: this host lacks CAP_SYS_RESOURCE: the node's containerd gets "
                "restrict_oom_score_adj = true (else runc fails: can't get final child's PID)"
            )
        if self.image:
            own = self.image.startswith(nodeimage.NODE_REPOSITORY + ":")
            if own:
                raise UserError(
                    f"{self.image}: servegate's node images are chosen by servegate; "
                    f"leave {IMAGE_ENV} unset"
                )
            return ClusterConfig(self.name, self.image, False, restrict_oom_score_adj=restrict)
        versions = load_versions()
        built = nodeimage.build(versions, self.progress, self.log)
        if endpoint.docker("image", "inspect", built.ref).returncode != 0:
            self.log(f"loading {built.ref} into Docker ({built.tarball.stat().st_size >> 20} MiB)")
            proc = endpoint.docker("load", "-i", str(built.tarball), timeout=900)
            if proc.returncode != 0:
                raise UserError(f"docker load of {built.tarball} failed: {proc.stderr.strip()}")
            _drop_older(endpoint, built.ref)
        return ClusterConfig(
            self.name,
            built.ref,
            True,
            nodeimage.REPOSITORY,
            built.etcd_tag,
            built.coredns_tag,
            restrict,
        )

    def load_images(self, names: Sequence[str], progress: ProgressFn | None = None) -> list[str]:
        """Build (or take cached) the named local images and load them into the nodes."""
        refs = []
        for name in names:
            built = node_images.build(name, progress)
            self._kind(
                "load",
                "image-archive",
                str(built.tarball),
                "--name",
                self.name,
                what=f"kind load image-archive {built.ref}",
            )
            refs.append(built.ref)
        return refs

    def _load_images(self) -> None:
        """servegate's own images (pause, probe, simulator, device plugin) into the nodes."""
        for build in (node_images.pause, node_images.probe, node_images.sim, node_images.fakegpu):
            built = build()
            self._kind(
                "load",
                "image-archive",
                str(built.tarball),
                "--name",
                self.name,
                what=f"kind load image-archive {built.ref}",
            )

    def kubectl(self) -> list[str]:
        """The pinned kubectl, pointed at this cluster."""
        from servegate.k8s.render import kubectl_binary

        return [
            str(kubectl_binary()),
            "--kubeconfig",
            str(self.kubeconfig),
            "--context",
            self.context,
        ]

    # -- down and status ---------------------------------------------------------------------
    def down(self) -> list[str]:
        """Delete the cluster; stop servegate's daemon if it holds nothing else."""
        done: list[str] = []
        with self._docker(start=False) as endpoint:
            if endpoint is not None and self._exists():
                try:
                    self._pytest_kind().delete()
                except subprocess.CalledProcessError:
                    raise UserError(f"kind delete cluster {self.name} failed") from None
                done.append(f"deleted kind cluster {self.name}")
        done += self.docker.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return done

    def status(self) -> str:
        endpoint = self.docker.endpoint()
        if endpoint is None:
            return f"kind/{self.name}: no Docker daemon answers"
        where = "servegate's dockerd" if endpoint.ours else endpoint.host
        with self.docker.environment(endpoint):
            there = self._exists()
        return f"kind/{self.name}: {'created' if there else 'not created'} ({where})"


def _drop_older(endpoint: dockerhost.Endpoint, keep: str) -> None:
    """Remove servegate's older node images from Docker (about 1 GB each); one still used by
    a container stays (docker refuses)."""
    out = endpoint.docker(
        "images", nodeimage.NODE_REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}"
    ).stdout
    older = [ref for ref in out.split() if ref != keep]
    if older:
        endpoint.docker("rmi", *older)
