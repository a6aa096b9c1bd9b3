"""The one real node: bring it up next to a running control plane, and take it down cleanly.

``up`` order: images (built or cached) -> host network (bridge, guard, sysctls) ->
containerd (+ image import) -> kubelet -> fake GPU device plugin -> wait Ready ->
kube-proxy -> CoreDNS + kube-dns Service -> Prometheus. ``down`` reverses it and then
sweeps: sandboxes are stopped through CRI (so CNI removes veths and netns), leftover
shims of our socket are ended by PID, mounts under the state directory are unmounted,
this cluster's iptables chains (net.py says which) and the bridge removed and sysctls
restored. :func:`leftovers.find` must then be empty.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from servegate import procs
from servegate.cluster import identities
from servegate.cluster.api import Api, ApiError, ready_nodes
from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.node import addons, configs, containerd, gobuild, images, leftovers, net
from servegate.cluster.node.layout import BRIDGE, GpuSpec, Layout, NodeSpec
from servegate.errors import UserError
from servegate.k8s.nodes import REAL_NODE_LABEL, REAL_NODE_VALUE
from servegate.procs import ProcessTable
from servegate.wait import wait_until

Progress = Callable[[str], None]


@dataclass(frozen=True)
class NodeInputs:
    """What the control plane hands the node (built from the hook's NodeContext)."""

    state_dir: Path
    api: Api
    kubelet: Path
    kube_proxy: Path
    kubelet_kubeconfig: Path
    """CN system:node:<name>, O system:nodes: the Node authorizer's identity."""
    proxy_kubeconfig: Path
    coredns_kubeconfig: Path
    """servegate:coredns (list/watch of Services, Namespaces, EndpointSlices)."""
    access: addons.ApiAccess
    """API server URL, CA and servegate:podsd's client certificate (Prometheus' targets)."""
    client_ca: Path
    """CA of the API server's kubelet client certificate: the kubelet refuses to start
    without it (no anonymous access, every request authorised through the API server)."""
    coredns_version: str = "v1.14.7"
    prometheus_port: int = 9090
    spec: NodeSpec = field(default_factory=NodeSpec)
    parts: frozenset[str] = frozenset({"proxy", "dns", "prometheus"})
    """Optional parts to run; the containerd/kubelet core always runs."""


@dataclass
class UpReport:
    timings: dict[str, float] = field(default_factory=dict)
    images: list[images.Built] = field(default_factory=list)


def _timed(report: UpReport, name: str, progress: Progress) -> Callable[[], None]:
    t0 = time.monotonic()
    progress(f"node: {name} ...")

    def done() -> None:
        report.timings[name] = time.monotonic() - t0

    return done


def up(inp: NodeInputs, progress: Progress = lambda _m: None) -> UpReport:
    spec, layout = inp.spec, Layout(inp.state_dir)
    layout.check()
    layout.root.mkdir(parents=True, exist_ok=True)
    sup = layout.processes()
    rep = UpReport()
    if not owns_host_network(layout):
        if net.link_exists(BRIDGE):
            raise UserError(f"interface {BRIDGE} exists: another servegate node runs on this host")
        clash = net.conflicting_chains()
        if clash:
            raise UserError(
                f"iptables chain {clash[0]} exists: another kube-proxy or kubelet runs here"
            )

    prepare_system_dirs(layout)  # also records which fixed system dirs we create

    done = _timed(rep, "images", progress)
    rep.images = [images.pause(), images.probe(), images.sim()]
    images.write_manifest(layout.root / "images.toml", rep.images)
    fakegpu, nodetool = gobuild.build("fakegpu"), gobuild.build("nodetool")
    (layout.root / "nodetool").write_text(str(nodetool))
    done()

    done = _timed(rep, "network", progress)
    net.setup(spec, layout.root)
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    (layout.cni_conf_dir / "10-servegate.conflist").write_text(
        json.dumps(configs.cni_conflist(spec, layout), indent=2)
    )
    done()

    done = _timed(rep, "containerd", progress)
    containerd.write_config(layout, images.PAUSE)
    containerd.start(layout, sup)
    _import_images(layout, rep.images)
    done()

    done = _timed(rep, "kubelet", progress)
    (layout.root / "resolv.conf").write_text(f"nameserver {spec.cluster_dns}\n")
    layout.kubelet_config.write_text(
        yaml.safe_dump(configs.kubelet_config(spec, layout, inp.client_ca), sort_keys=False)
    )
    make_cgroup_root()
    register_node(inp.api, spec)
    sup.start("kubelet", configs.kubelet_args(spec, layout, inp.kubelet, inp.kubelet_kubeconfig))
    _start_fakegpu(layout, sup, fakegpu, spec.gpus)
    wait_ready(inp.api, spec, sup, timeout=120)
    done()

    if "proxy" in inp.parts:
        done = _timed(rep, "kube-proxy", progress)
        layout.kube_proxy_config.write_text(
            yaml.safe_dump(configs.kube_proxy_config(spec, inp.proxy_kubeconfig), sort_keys=False)
        )
        sup.start("kube-proxy", [str(inp.kube_proxy), f"--config={layout.kube_proxy_config}"])
        done()
    if "dns" in inp.parts:
        done = _timed(rep, "coredns", progress)
        identities.apply(inp.api, identities.get("coredns"))
        addons.start_coredns(spec, layout, sup, inp.coredns_kubeconfig, inp.coredns_version)
        service, slice_ = addons.kube_dns_objects(spec)
        inp.api.create("/api/v1/namespaces/kube-system/services", service)
        inp.api.create("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", slice_)
        done()
    if "prometheus" in inp.parts:
        done = _timed(rep, "prometheus", progress)
        identities.apply(inp.api, identities.get("podsd"))
        addons.start_prometheus(layout, sup, nodetool, inp.access, inp.prometheus_port)
        done()
    return rep


def owns_host_network(layout: Layout) -> bool:
    """True if this node set up the host's bridge, chains and sysctls (and has to undo them)."""
    return (layout.root / net.SYSCTLS_FILE).exists()


def make_cgroup_root() -> None:
    """Create ``/servegate`` in every cgroup v1 hierarchy: the kubelet's cgroupRoot must exist.

    A new cpuset cgroup starts with no CPUs and no memory nodes; copy the root's.
    """
    for hierarchy in sorted(leftovers.CGROUP_ROOT.iterdir()):
        if hierarchy.name == "unified" or not (hierarchy / "cgroup.procs").exists():
            continue
        ours = hierarchy / "servegate"
        ours.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (ours / knob).exists() and not (ours / knob).read_text().strip():
                (ours / knob).write_text((hierarchy / knob).read_text())


def register_node(api: Api, spec: NodeSpec) -> None:
    """Create the Node with its podCIDR and GPU labels before the kubelet registers.

    The controller manager allocates no CIDRs here, and a kubelet only applies its labels
    when it creates the Node itself, so both are set up front.
    """
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": {
                "kubernetes.io/hostname": spec.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                REAL_NODE_LABEL: REAL_NODE_VALUE,
                **spec.gpus.labels(),
            },
        },
        "spec": {"podCIDR": spec.pod_cidr, "podCIDRs": [spec.pod_cidr]},
    }
    api.create("/api/v1/nodes", node)


def load_images(
    state_dir: Path, names: Sequence[str], progress: ProgressFn | None = None
) -> list[images.Built]:
    """Build (or take from the cache) the named images and import them into the running
    node's containerd: images ``up`` does not load, such as the engine."""
    layout = Layout(state_dir)
    if not layout.containerd_socket.exists() or containerd.ctr(layout, "version", check=False):
        raise UserError(f"the node's containerd is not running (state {state_dir}): cluster up")
    built = [images.build(name, progress) for name in names]
    _import_images(layout, built)
    return built


def _import_images(layout: Layout, built: list[images.Built]) -> None:
    """Import each tarball once per containerd root (a marker remembers what was imported)."""
    marker = layout.containerd_root / "servegate-imported.json"
    done: dict[str, str] = json.loads(marker.read_text()) if marker.exists() else {}
    for b in built:
        if done.get(b.ref) == b.tarball.name and containerd.has_image(layout, b.ref):
            continue
        containerd.import_image(layout, b.tarball)
        done[b.ref] = b.tarball.name
        marker.write_text(json.dumps(done))


CREATED_DIRS = "created-dirs.json"
SYSTEM_DIRS = (
    Path("/run/containerd"),
    Path("/run/containerd/s"),
    Path("/var/lib/kubelet"),
)
"""Fixed paths of Debian's containerd 1.6 and the kubelet; removed by down if up created them."""
DEVICE_PLUGIN_FILES = ("kubelet.sock", "kubelet_internal_checkpoint", "sg-*.sock")
"""What the kubelet and fakegpu leave in the (system) device-plugins directory."""


def prepare_system_dirs(layout: Layout) -> None:
    """Create the kubelet's fixed device-plugins directory, remembering what we created."""
    record = layout.root / CREATED_DIRS
    if record.exists():
        return
    sock = layout.device_plugins_dir / "kubelet.sock"
    if sock.exists() and _socket_answers(sock):
        raise UserError(f"{sock} answers: another kubelet runs on this host")
    # containerd 1.6 always puts shim sockets in /run/containerd/s: remove it if we made it.
    created = [str(d) for d in (*SYSTEM_DIRS, layout.device_plugins_dir) if not d.exists()]
    layout.device_plugins_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(created))


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _clean_device_plugins_dir(layout: Layout) -> None:
    record = layout.root / CREATED_DIRS
    if not record.exists():
        return
    for pattern in DEVICE_PLUGIN_FILES:
        for f in layout.device_plugins_dir.glob(pattern):
            f.unlink(missing_ok=True)
    for d in sorted(json.loads(record.read_text()), key=len, reverse=True):
        with contextlib.suppress(OSError):
            Path(d).rmdir()
    record.unlink()


def _start_fakegpu(layout: Layout, sup: ProcessTable, binary: Path, gpus: GpuSpec) -> None:
    args = [str(binary), f"--dir={layout.device_plugins_dir}"]
    args += [f"--resource={name}={n}" for name, n in gpus.resources().items()]
    sup.start("fakegpu", args)


def wait_ready(api: Api, spec: NodeSpec, sup: ProcessTable, timeout: float) -> None:
    """Wait until the node is Ready and advertises every simulated GPU resource."""
    want = spec.gpus.resources()
    last = "not registered"

    def ready_with_gpus() -> bool:
        nonlocal last
        sup.require("kubelet")
        try:
            node = api.get(f"/api/v1/nodes/{spec.name}")
        except ApiError as exc:
            if exc.status != 404:
                raise
            return False
        cap = node.get("status", {}).get("capacity", {}) or {}
        missing = [r for r, n in want.items() if cap.get(r) != str(n)]
        ready = bool(ready_nodes([node]))
        last = "not Ready" if not ready else f"no capacity yet for {', '.join(missing)}"
        return ready and not missing

    if wait_until(ready_with_gpus, timeout, interval_s=0.25):
        return
    raise UserError(f"node {spec.name} {last} after {timeout:.0f}s; see {sup.log_path('kubelet')}")


def down(state_dir: Path, progress: Progress = lambda _m: None) -> list[str]:
    """Stop everything the node started and sweep the host; return remaining leftovers."""
    layout = Layout(state_dir)
    sup = layout.processes()
    from servegate.cluster import addons as optional  # add-ons import the node

    optional.stop_all(layout, sup, progress)
    for name in ("prometheus", "podsd", "coredns", "kube-proxy", "fakegpu", "kubelet"):
        progress(f"node: stopping {name}")
        sup.stop(name)
    if sup.alive("containerd"):
        progress("node: removing pod sandboxes")
        tool = layout.root / "nodetool"
        if tool.exists():
            subprocess.run(
                [tool.read_text().strip(), "reset", f"--socket={layout.containerd_socket}"],
                capture_output=True,
                check=False,
                timeout=120,
            )
        containerd.remove_all_tasks(layout)
    sup.stop("containerd")
    for pid in leftovers.our_shims(layout):
        if (shim := procs.pin("shim", pid)) is not None:
            procs.stop(shim, timeout=5)
    if owns_host_network(layout):
        # After a crash, containers outlive their shims: they are ours by their cgroup.
        for pid in leftovers.cgroup_pids():
            if (container := procs.pin("container", pid)) is not None:
                procs.stop(container, timeout=2)
    _unmount_all(layout)
    _clean_device_plugins_dir(layout)
    if owns_host_network(layout):  # never touch another node's bridge, chains or cgroups
        # Not `kube-proxy --cleanup`: it removes every kube-proxy chain on the host, whoever
        # made it. net.teardown removes this cluster's chains only.
        _remove_cgroups()
        net.teardown(layout.root)
    for f in leftovers.CNI_RESULTS.glob("servegate-*") if leftovers.CNI_RESULTS.is_dir() else []:
        f.unlink(missing_ok=True)
    for volatile in (layout.containerd_state, layout.kubelet_dir, layout.cni_ipam_dir):
        shutil.rmtree(volatile, ignore_errors=True)
    return leftovers.find(layout)


def _unmount_all(layout: Layout) -> None:
    """Unmount everything under the state directory, deepest first (lazily if busy)."""
    for _ in range(3):
        mounts = sorted(leftovers.our_mounts(layout), key=len, reverse=True)
        if not mounts:
            break
        for m in mounts:
            if subprocess.run(["umount", m], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", m], capture_output=True, check=False)
    if layout.netns_dir.is_dir():
        for f in layout.netns_dir.iterdir():
            f.unlink(missing_ok=True)


def _remove_cgroups() -> None:
    """rmdir our (by then empty) cgroup subtrees, leaves first."""
    for top in leftovers.our_cgroups():
        dirs = sorted((p for p in Path(top).rglob("*") if p.is_dir()), key=lambda p: len(p.parts))
        for d in [*reversed(dirs), Path(top)]:
            with contextlib.suppress(OSError):
                d.rmdir()
