"""List whatever a node left on the host: the definition of a clean ``down``.

Checked after every ``down`` (and by the e2e test): recorded processes still alive,
containerd shims serving our socket, mounts under the state directory or of our network
namespaces, network namespaces, our bridge and veths, this cluster's iptables chains (not
those that were on the host before its first ``up``, see net.py),
our cgroups, and CNI state files of our network.
"""

from __future__ import annotations

from pathlib import Path

from servegate.cluster.node import net
from servegate.cluster.node.layout import BRIDGE, CNI_NETWORK, DEVICE_PLUGINS_DIR, Layout
from servegate.procs import owned

CGROUP_ROOT = Path("/sys/fs/cgroup")
CNI_RESULTS = Path("/var/lib/cni/results")


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        points.append(mount_point)
    return points


def our_mounts(layout: Layout) -> list[str]:
    """Mounts under the state directory or containerd's root (its tmpmounts while unpacking)."""
    roots = [str(layout.root.resolve()), str(layout.containerd_root.resolve())]
    return [p for p in _mount_points() if any(p == r or p.startswith(r + "/") for r in roots)]


def our_shims(layout: Layout) -> list[int]:
    """PIDs of containerd shims (or any process) whose command line names our socket."""
    needle = str(layout.containerd_socket).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(proc.name))
    return found


def our_cgroups() -> list[str]:
    found = []
    if CGROUP_ROOT.is_dir():
        for hierarchy in sorted(CGROUP_ROOT.iterdir()):
            if (hierarchy / "servegate").is_dir():
                found.append(str(hierarchy / "servegate"))
    return found


def cgroup_pids() -> list[int]:
    """Processes inside our cgroup subtree: pod containers, even if their shim is gone."""
    top = CGROUP_ROOT / "pids" / "servegate"
    pids: set[int] = set()
    if top.is_dir():
        for procs in top.rglob("cgroup.procs"):
            try:
                pids.update(int(x) for x in procs.read_text().split())
            except OSError:
                continue
    return sorted(pids)


def find(layout: Layout) -> list[str]:
    """One line per leftover; empty means the host is clean of this node."""
    out: list[str] = []
    out += [f"process {r.name} pid {r.pid}" for r in layout.processes().records() if owned(r)]
    out += [f"process pid {pid} uses {layout.containerd_socket}" for pid in our_shims(layout)]
    out += [f"process pid {pid} in cgroup /servegate" for pid in cgroup_pids()]
    out += [f"mount {p}" for p in our_mounts(layout)]
    if layout.netns_dir.is_dir():
        out += [f"netns {p}" for p in sorted(layout.netns_dir.iterdir())]
    if net.link_exists(BRIDGE):
        out.append(f"interface {BRIDGE}")
    out += [f"interface {p} (on {BRIDGE})" for p in net.bridge_ports()]
    for where, chains in net.kube_chains(layout.root).items():
        out += [f"iptables {where} chain {c}" for c in chains]
    out += [f"cgroup {c}" for c in our_cgroups()]
    record = layout.root / "created-dirs.json"
    if record.exists():
        out.append(f"file {record} (device-plugins directory not cleaned)")
    for pattern in ("sg-*.sock", "kubelet.sock", "kubelet_internal_checkpoint"):
        out += [f"file {p}" for p in sorted(DEVICE_PLUGINS_DIR.glob(pattern))]
    if CNI_RESULTS.is_dir():
        out += [f"cni state {p}" for p in sorted(CNI_RESULTS.glob(f"{CNI_NETWORK}-*"))]
    return out
