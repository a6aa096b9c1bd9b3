"""containerd + bridge CNI + our pause image on this host, without a kubelet; then ``down``
must leave nothing behind.

Needs root, Debian's containerd/runc/containernetworking-plugins/iptables, and Go (for the
pause image and the CRI helper). Skipped with the reason otherwise.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from servegate.cluster.node import configs, containerd, gobuild, images, leftovers, net
from servegate.cluster.node import node as nodemod
from servegate.cluster.node.layout import BRIDGE, Layout, NodeSpec

pytestmark = pytest.mark.e2e


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for cmd in ("containerd", "ctr", "runc", "ip", "iptables", "go"):
        if shutil.which(cmd) is None and not (
            cmd == "go" and Path("/usr/local/go/bin/go").exists()
        ):
            return f"{cmd} not installed"
    if net.link_exists(BRIDGE):
        return f"{BRIDGE} exists: a servegate node already runs on this host"
    return None


@pytest.fixture
def layout() -> Iterator[Layout]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="sgn-", dir="/tmp"))
    lay = Layout(root)
    try:
        yield lay
    finally:
        nodemod.down(root)
        shutil.rmtree(root, ignore_errors=True)


def test_sandbox_gets_a_pod_ip_and_down_leaves_nothing(layout: Layout) -> None:
    spec = NodeSpec()
    forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    dirs_before = [d for d in nodemod.SYSTEM_DIRS if d.exists()]
    sup = layout.processes()
    pause = images.pause()
    tool = gobuild.build("nodetool")
    (layout.root / "nodetool").write_text(str(tool))
    nodemod.prepare_system_dirs(layout)
    net.setup(spec, layout.root)
    layout.cni_conf_dir.mkdir(parents=True)
    (layout.cni_conf_dir / "10-servegate.conflist").write_text(
        json.dumps(configs.cni_conflist(spec, layout))
    )
    containerd.write_config(layout, images.PAUSE)
    containerd.start(layout, sup)
    containerd.import_image(layout, pause.tarball)
    assert containerd.has_image(layout, images.PAUSE)

    out = subprocess.run(
        [str(tool), "sandbox", f"--socket={layout.containerd_socket}", "--name=e2e"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    _sandbox_id, ip = out.stdout.split()
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(spec.pod_cidr)
    (netns,) = list(layout.netns_dir.iterdir())
    routes = subprocess.run(
        ["nsenter", f"--net={netns}", "ip", "route"], capture_output=True, text=True, check=True
    ).stdout
    assert "default" not in routes  # a pod has no way out of our networks
    assert spec.service_cidr in routes
    found = leftovers.find(layout)
    assert any(item.startswith("netns ") for item in found)
    assert any(item.startswith("mount ") for item in found)

    assert nodemod.down(layout.root) == []
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward_before
    assert [d for d in nodemod.SYSTEM_DIRS if d.exists()] == dirs_before
