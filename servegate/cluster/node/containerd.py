"""containerd as our own process: own config, root, state and socket.

Debian's containerd 1.6 is run directly (never as the system service, never on
/run/containerd or /var/lib/containerd) with the cgroupfs driver that a cgroup v1 host
needs, our CNI directories, and our locally built pause image as the sandbox image, so that
no image is ever pulled.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import tomli_w

from servegate.cluster.node.layout import CNI_BIN_DIR, Layout
from servegate.errors import UserError
from servegate.procs import ProcessTable
from servegate.wait import wait_until

NAMESPACE = "k8s.io"
"""The containerd namespace the CRI plugin (and so the kubelet) uses."""


def render_config(layout: Layout, sandbox_image: str) -> dict[str, Any]:
    """containerd 1.6 config (version 2 schema) for the node."""
    cri = "io.containerd.grpc.v1.cri"
    return {
        "version": 2,
        "root": str(layout.containerd_root),
        "state": str(layout.containerd_state),
        "grpc": {"address": str(layout.containerd_socket)},
        # The TTRPC socket defaults to <grpc address>.ttrpc; metrics and debug stay off.
        "plugins": {
            cri: {
                "sandbox_image": sandbox_image,
                "netns_mounts_under_state_dir": True,
                # Sandboxed hosts may lack CAP_SYS_RESOURCE: never ask runc to lower the OOM
                # score below containerd's own (runc would fail with EACCES).
                "restrict_oom_score_adj": True,
                "enable_selinux": False,
                "disable_apparmor": True,
                "stream_server_address": "127.0.0.1",
                "stream_server_port": "0",
                "max_concurrent_downloads": 1,
                "containerd": {
                    "snapshotter": "overlayfs",
                    "default_runtime_name": "runc",
                    "runtimes": {
                        "runc": {
                            "runtime_type": "io.containerd.runc.v2",
                            "options": {
                                "SystemdCgroup": False,
                                "Root": str(layout.runc_root),
                            },
                        }
                    },
                },
                "cni": {
                    "bin_dir": str(CNI_BIN_DIR),
                    "conf_dir": str(layout.cni_conf_dir),
                    "max_conf_num": 1,
                },
                # Every registry host resolves to a closed loopback port (see write_config):
                # a missing image fails fast and no pull ever leaves the machine.
                "registry": {"config_path": str(layout.containerd_dir / "certs.d")},
            },
            # Keep containerd off the host's default OCI hook and tracing paths.
            "io.containerd.internal.v1.opt": {"path": str(layout.containerd_dir / "opt")},
        },
    }


NO_REGISTRY = "http://127.0.0.1:9"
"""Where image pulls are sent: the discard port on loopback, normally closed."""
REGISTRIES = ("_default", "docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "nvcr.io")
"""Registry hosts redirected to NO_REGISTRY. ``_default`` covers every other registry
(checked: a pull of example.org/x/y:1 goes to 127.0.0.1:9); the named ones are explicit."""


def write_config(layout: Layout, sandbox_image: str) -> Path:
    layout.containerd_dir.mkdir(parents=True, exist_ok=True)
    for host in REGISTRIES:
        hosts = layout.containerd_dir / "certs.d" / host / "hosts.toml"
        hosts.parent.mkdir(parents=True, exist_ok=True)
        # containerd 1.6 rejects a hosts.toml without a [host] tree.
        doc = {"server": NO_REGISTRY, "host": {NO_REGISTRY: {"capabilities": ["pull", "resolve"]}}}
        hosts.write_text(tomli_w.dumps(doc))
    layout.containerd_config.write_text(tomli_w.dumps(render_config(layout, sandbox_image)))
    return layout.containerd_config


def binary() -> str:
    path = shutil.which("containerd")
    if path is None:
        raise UserError("containerd not found: install Debian's 'containerd' package")
    return path


def start(layout: Layout, sup: ProcessTable, timeout: float = 30.0) -> None:
    """Start containerd and wait until its socket answers."""
    sup.start("containerd", [binary(), "--config", str(layout.containerd_config)])

    def answers() -> bool:
        sup.require("containerd")
        return layout.containerd_socket.exists() and ctr(layout, "version", check=False) == 0

    if not wait_until(answers, timeout, interval_s=0.1):
        raise UserError(f"containerd did not answer within {timeout:.0f}s; see its log")


def ctr(layout: Layout, *args: str, check: bool = True) -> int:
    """Run ``ctr`` against our socket in the k8s.io namespace; return its exit code."""
    cmd = ["ctr", "--address", str(layout.containerd_socket), "--namespace", NAMESPACE, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"ctr {' '.join(args[:2])} failed: {msg}")
    return proc.returncode


def ctr_lines(layout: Layout, *args: str) -> list[str]:
    """Output lines of a ``ctr ... -q`` listing; empty if containerd is not answering."""
    cmd = ["ctr", "--address", str(layout.containerd_socket), "--namespace", NAMESPACE, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return (
        [line for line in proc.stdout.splitlines() if line.strip()] if proc.returncode == 0 else []
    )


def import_image(layout: Layout, tarball: Path) -> None:
    """Import a docker-archive/OCI tarball into the CRI namespace (no pull, ever)."""
    ctr(layout, "images", "import", str(tarball))


def has_image(layout: Layout, ref: str) -> bool:
    return ref in ctr_lines(layout, "images", "list", "-q")


def remove_all_tasks(layout: Layout) -> None:
    """Kill and delete every task and container in our namespace (fallback after kubelet)."""
    for cid in ctr_lines(layout, "tasks", "list", "-q"):
        ctr(layout, "tasks", "kill", "--signal", "SIGKILL", cid, check=False)
    deadline = time.monotonic() + 10
    for cid in ctr_lines(layout, "containers", "list", "-q"):
        left = max(0.0, deadline - time.monotonic())
        wait_until(functools.partial(_task_deleted, layout, cid), left, interval_s=0.2)
        ctr(layout, "containers", "delete", cid, check=False)


def _task_deleted(layout: Layout, cid: str) -> bool:
    if ctr(layout, "tasks", "delete", "--force", cid, check=False) == 0:
        return True
    return cid not in ctr_lines(layout, "tasks", "list", "-q")
