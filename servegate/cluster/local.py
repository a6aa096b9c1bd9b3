"""The embedded local cluster: build or find binaries, start the control plane and kwok,
create the fleet, hand over to the real node, and take it all down again.

State lives in ``<state>/<name>/`` (``cluster.json``, ``pids/``, ``logs/``, ``pki/``,
``kubeconfig``); ``down`` needs nothing else, so it also cleans up after a crash.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servegate.cluster import controlplane, kwok, network, paths
from servegate.cluster.api import Api, ready_nodes
from servegate.cluster.binaries import BinaryResolver, Resolved
from servegate.cluster.controlplane import Layout
from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.nodehook import ComponentStatus, NodeContext, NodeRuntime, load_runtime
from servegate.cluster.pki import Pki
from servegate.cluster.versions import Versions, load_versions
from servegate.config.fleet import Fleet, load_fleet
from servegate.errors import UserError
from servegate.procs import ProcessTable, exited, owned, tail
from servegate.wait import wait_until

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
CP_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
)
NODE_BINARIES = ("kubelet", "kube-proxy")


@dataclass
class UpResult:
    """What ``up`` did and how long each step took (seconds)."""

    already_up: bool
    kubeconfig: Path
    context: str
    nodes_ready: int
    timings: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def fleet_digest(path: Path) -> str | None:
    """SHA-256 of a fleet file's bytes (None when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class LocalCluster:
    """One named local cluster."""

    def __init__(
        self,
        name: str = "local",
        slot: int = 0,
        versions: Versions | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.name = paths.check_name(name)
        self.state = paths.state_dir(name)
        self.layout = Layout(self.state)
        self.table = ProcessTable(self.state)
        self.versions = versions or load_versions()
        self.log = log
        meta = self._meta()
        self.ports = network.Ports.for_slot(int(meta.get("slot", slot)))

    # -- state ------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.state / "cluster.json"

    def _meta(self) -> dict[str, Any]:
        try:
            data = json.loads(self.meta_path.read_text("utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    @property
    def fleet_file(self) -> Path | None:
        """The fleet file the cluster was last brought up with (None: without a fleet)."""
        fleet = self._meta().get("fleet")
        return Path(fleet) if isinstance(fleet, str) else None

    def made_with(self, fleet_file: Path) -> bool:
        """Whether the cluster was last brought up with ``fleet_file`` as it reads now (the
        same file, unchanged since)."""
        meta = self._meta()
        made = meta.get("fleet")
        return (
            isinstance(made, str)
            and Path(made).resolve() == fleet_file.resolve()
            and meta.get("fleet_sha256") == fleet_digest(fleet_file)
        )

    def _api(self) -> Api:
        pki = self.layout.pki
        return Api(
            network.LOOPBACK,
            self.ports.apiserver,
            pki / "ca.crt",
            pki / "admin.crt",
            pki / "admin.key",
        )

    def running(self) -> bool:
        """True if every recorded control-plane process is alive and ours."""
        records = {r.name: r for r in self.table.records()}
        return all(n in records and owned(records[n]) for n in (*CONTROL_PLANE, "kwok"))

    def _node_ctx(self, bins: dict[str, Path], fleet: Fleet | None) -> NodeContext:
        pki = Pki(self.layout.pki)
        return NodeContext(
            cluster=self.name,
            state_dir=self.state / "node",
            apiserver_url=f"https://{network.LOOPBACK}:{self.ports.apiserver}",
            ca=pki.ca,
            pki=pki,
            admin_kubeconfig=self.layout.admin_kubeconfig,
            binaries=bins,
            versions=self.versions,
            service_cidr=network.SERVICE_CIDR,
            cluster_cidr=network.CLUSTER_CIDR,
            pod_cidr=network.REAL_NODE_POD_CIDR,
            cluster_dns=network.CLUSTER_DNS,
            cluster_domain=network.CLUSTER_DOMAIN,
            fleet=fleet,
            log=self.log,
        )

    # -- up ---------------------------------------------------------------------------
    def up(
        self,
        fleet_file: Path | None = None,
        node: bool = True,
        bin_dir: Path | None = None,
        allow_build: bool = True,
        progress: ProgressFn | None = None,
        ready_timeout: float = 180.0,
    ) -> UpResult:
        """Start the cluster, or report that it already runs. A failure stops what started."""
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        fleet = load_fleet(fleet_file) if fleet_file is not None else None
        context = controlplane.context_name(self.name)
        if self.running():
            with self._api() as api:
                nodes = ready_nodes(api.get("/api/v1/nodes").get("items", []))
            return UpResult(True, self.layout.admin_kubeconfig, context, len(nodes))
        if self.table.records():  # leftovers of a crashed run: start from scratch
            self.down()
        network.check_ports_free(self.ports)
        runtime: NodeRuntime | None = load_runtime() if node else None
        notes = []
        if node and runtime is None:
            notes.append(
                "no real node in this build (servegate.cluster.node has no "
                "create_runtime): only kwok nodes"
            )
        resolver = BinaryResolver(
            self.versions, bin_dir=bin_dir, allow_build=allow_build, progress=progress
        )
        names = CP_BINARIES + (NODE_BINARIES if runtime is not None else ())
        t = time.monotonic()
        bins = resolver.resolve_all(names)
        timings["binaries"] = time.monotonic() - t
        timings.update(resolver.timings)
        self.state.mkdir(parents=True, exist_ok=True)
        self.meta_path.write_text(
            json.dumps(
                {
                    "slot": (self.ports.apiserver - 16443) // 10,
                    "node": runtime is not None,
                    "fleet": str(fleet_file) if fleet_file else None,
                    "fleet_sha256": fleet_digest(fleet_file) if fleet_file else None,
                    "kubernetes": self.versions.kubernetes,
                }
            ),
            "utf-8",
        )
        ctx = self._node_ctx({n: r.path for n, r in bins.items()}, fleet)
        try:
            self._start(bins, fleet, runtime, ctx, timings, ready_timeout)
        except BaseException:
            self.log(
                f"up failed: stopping what was started (logs stay in {self.layout.root / 'logs'})"
            )
            self._stop(runtime, ctx)
            raise
        timings["total"] = time.monotonic() - t0
        expected = (fleet.node_count if fleet else 0) + (1 if runtime else 0)
        return UpResult(
            False,
            self.layout.admin_kubeconfig,
            context,
            expected,
            timings,
            {n: r.source for n, r in bins.items()},
            notes,
        )

    def _start(
        self,
        bins: dict[str, Resolved],
        fleet: Fleet | None,
        runtime: NodeRuntime | None,
        ctx: NodeContext,
        timings: dict[str, float],
        ready_timeout: float,
    ) -> None:
        t = time.monotonic()
        certs = controlplane.make_pki(self.layout)
        controlplane.write_kubeconfigs(self.layout, certs, self.ports, self.name)
        timings["pki"] = time.monotonic() - t
        if runtime is not None:
            ctx.state_dir.mkdir(parents=True, exist_ok=True)
            runtime.check(ctx)
        controlplane.start(self.table, self.layout, self.ports, bins, certs, timings)
        t = time.monotonic()
        self.table.start(
            "kwok",
            kwok.kwok_argv(bins["kwok"], self.layout.component_kubeconfig("kwok"), self.ports),
        )
        with self._api() as api:
            manifests = kwok.node_manifests(fleet, self.versions.kubernetes) if fleet else []
            kwok.create_nodes(api, manifests)
            timings["fleet"] = time.monotonic() - t
            if runtime is not None:
                t = time.monotonic()
                runtime.up(ctx)
                timings["node"] = time.monotonic() - t
            t = time.monotonic()
            expected = len(manifests) + (1 if runtime is not None else 0)
            self._wait_ready(api, expected, ready_timeout)
            timings["nodes-ready"] = time.monotonic() - t

    def _wait_ready(self, api: Api, expected: int, timeout: float) -> None:
        ready: list[str] = []

        def enough() -> bool:
            nonlocal ready
            kwok_rec = self.table.get("kwok")
            if kwok_rec is not None and exited(kwok_rec) is not None:
                raise UserError(f"kwok exited: {tail(kwok_rec)} (log: {kwok_rec.log})")
            ready = ready_nodes(api.get("/api/v1/nodes").get("items", []))
            return len(ready) >= expected

        if wait_until(enough, timeout, interval_s=0.25):
            return
        raise UserError(
            f"only {len(ready)} of {expected} nodes Ready after {timeout:.0f}s; "
            f"see the logs in {self.layout.root / 'logs'}"
        )

    # -- down -------------------------------------------------------------------------
    def _stop(self, runtime: NodeRuntime | None, ctx: NodeContext | None) -> list[str]:
        stopped = []
        if runtime is not None and ctx is not None:
            try:
                runtime.down(ctx)
                stopped.append(f"node ({runtime.name})")
            finally:
                stopped += self.table.stop_all()
        else:
            stopped += self.table.stop_all()
        return stopped

    def down(self, quiet: bool = False) -> list[str]:
        """Stop every recorded process (only ours), let the node clean up, remove the state."""
        if not self.state.exists():
            return []
        meta = self._meta()
        runtime = load_runtime() if meta.get("node") else None
        resolver = BinaryResolver(self.versions, allow_download=False, allow_build=False)
        bins = {n: r.path for n in NODE_BINARIES if (r := resolver.lookup(n)) is not None}
        ctx = self._node_ctx(bins, None) if runtime is not None else None
        records = self.table.records()
        stopped = self._stop(runtime, ctx)
        leftovers = [r for r in records if owned(r)]
        if leftovers:
            raise UserError(
                f"could not stop {', '.join(r.name for r in leftovers)}; state kept in {self.state}"
            )
        if not quiet:
            shutil.rmtree(self.state, ignore_errors=True)
        return stopped

    def load_images(self, names: Sequence[str], progress: ProgressFn | None = None) -> list[str]:
        """Build (or take cached) local images ``up`` does not load, such as the engine, and
        import them into the running node."""
        runtime = load_runtime() if self._meta().get("node") else None
        if runtime is None or not self.running():
            raise UserError(f"cluster {self.name} has no running real node to load images into")
        return runtime.load_images(self._node_ctx({}, None), names, progress)

    # -- status -----------------------------------------------------------------------
    def status(self) -> tuple[list[ComponentStatus], list[str], int]:
        """Processes, names of Ready nodes, and the total node count."""
        out = []
        for rec in self.table.records():
            alive = owned(rec)
            out.append(ComponentStatus(rec.name, alive, "" if alive else "not running", rec.pid))
        meta = self._meta()
        runtime = load_runtime() if meta.get("node") else None
        if runtime is not None:
            out += runtime.status(self._node_ctx({}, None))
        if not self.running():
            return out, [], 0
        try:
            with self._api() as api:
                items = api.get("/api/v1/nodes").get("items", [])
        except UserError:
            return out, [], 0
        return out, ready_nodes(items), len(items)
