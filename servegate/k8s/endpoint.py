"""Reaching a Service from the machine running the suite.

``direct_url``: the host routes to ClusterIPs (the embedded local cluster runs kube-proxy on the
host), so the Service's ClusterIP is used as is. ``port-forward``: ``kubectl port-forward``
bound to 127.0.0.1 on an ephemeral port, for clusters the host cannot route into. The
port-forward process is ours and is ended by its PID on exit.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

from servegate.k8s.client import Cluster, ClusterError
from servegate.procs import end, tied
from servegate.wait import wait_until

_FORWARDING = re.compile(rb"Forwarding from 127\.0\.0\.1:(\d+)")


def service_port(
    cluster: Cluster, namespace: str, service: str, port_name: str | None
) -> tuple[str, int]:
    svc = cluster.core.read_namespaced_service(service, namespace)
    ports = svc.spec.ports or []
    if not ports:
        raise ClusterError(f"service {namespace}/{service} exposes no port")
    chosen = next((p for p in ports if port_name and p.name == port_name), ports[0])
    return str(svc.spec.cluster_ip), int(chosen.port)


def wait_accepting(host: str, port: int, timeout_s: float) -> bool:
    """True once ``host:port`` accepts a TCP connection, False after ``timeout_s``.

    A workload is Ready before kube-proxy has programmed its Service (EndpointSlice, then an
    iptables sync that lags on a busy node); until then the ClusterIP refuses connections."""

    def accepts() -> bool:
        try:
            with socket.create_connection((host, port), timeout=2.0):
                return True
        except OSError:
            return False

    return wait_until(accepts, timeout_s, interval_s=0.2)


def direct_url(
    cluster: Cluster,
    namespace: str,
    service: str,
    port_name: str | None = None,
    wait_s: float = 60.0,
    port: int | None = None,
) -> str:
    """The Service's ClusterIP URL on ``port`` (else the port named ``port_name``, else its
    first), once it accepts connections (``wait_s``, 0: no wait)."""
    ip, named = service_port(cluster, namespace, service, port_name)
    port = port or named
    if ip in ("None", ""):
        raise ClusterError(f"service {namespace}/{service} is headless; use a ClusterIP Service")
    if wait_s > 0 and not wait_accepting(ip, port, wait_s):
        raise ClusterError(
            f"service {namespace}/{service} ({ip}:{port}) accepted no connection in {wait_s:g}s"
        )
    return f"http://{ip}:{port}"


@contextlib.contextmanager
def port_forward(
    kubectl: str,
    kubeconfig: str,
    context: str,
    namespace: str,
    service: str,
    remote_port: int,
    timeout_s: float = 30.0,
    target: str = "",
) -> Iterator[str]:
    """Forward an ephemeral loopback port to ``target`` (``svc/NAME`` by default, or
    ``pod/NAME``). kubectl's per-connection chatter is read and dropped for as long as it
    runs: a full pipe would stall the tunnel under load."""
    argv = [
        kubectl,
        "--kubeconfig",
        kubeconfig,
        "--context",
        context,
        "-n",
        namespace,
        "port-forward",
        "--address",
        "127.0.0.1",
        target or f"svc/{service}",
        f"0:{remote_port}",
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=tied(),  # stopped by the next run if we die without stopping it
    )
    try:
        port = _await_port(proc, timeout_s)
        threading.Thread(target=_discard, args=(proc,), daemon=True).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        end(proc, grace=5.0)
        if proc.stdout is not None:
            proc.stdout.close()


def _discard(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        while proc.stdout is not None and os.read(proc.stdout.fileno(), 65536):
            pass


def _await_port(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    seen = b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            seen += chunk
            m = _FORWARDING.search(seen)
            if m:
                return int(m.group(1))
    last = seen.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise ClusterError(f"kubectl port-forward did not start: {last[0]}")
