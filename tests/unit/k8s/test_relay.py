"""The relay pod in front of a Service (servegate.k8s.relay) and the port-forward to it."""

from __future__ import annotations

import sys
from pathlib import Path

from servegate.k8s import endpoint
from servegate.k8s.relay import GATEWAY_LABELS, RELAY_PORT, node_affinity, relay_pod
from servegate.wait import wait_until


def test_relay_joins_its_port_to_the_service_by_dns_name() -> None:
    pod = relay_pod("relay-vllm-abc", "sg-1", "vllm", 8000, {"run": "r1"})
    (c,) = pod["spec"]["containers"]
    assert c["command"] == ["/probe", "relay", "vllm.sg-1.svc:8000", "--port", str(RELAY_PORT)]
    assert pod["metadata"]["namespace"] == "sg-1"
    # the run's labels (cleanup, audit) and the gateway's (the reference NetworkPolicy's client)
    assert pod["metadata"]["labels"] == {"run": "r1", **GATEWAY_LABELS}
    assert pod["metadata"]["labels"]["role"] == "api-gateway"
    assert c["readinessProbe"]["tcpSocket"]["port"] == RELAY_PORT
    assert c["securityContext"]["runAsNonRoot"] and c["securityContext"]["capabilities"] == {
        "drop": ["ALL"]
    }
    assert "affinity" not in pod["spec"]


def test_relay_runs_only_on_nodes_that_run_containers() -> None:
    pod = relay_pod("r", "ns", "svc", 80, {}, nodes=("node-a", "node-b"))
    assert pod["spec"]["affinity"] == node_affinity(("node-a", "node-b"))
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms["nodeSelectorTerms"] == [
        {
            "matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["node-a", "node-b"]}
            ]
        }
    ]


_FAKE_KUBECTL = """
import pathlib, sys, time
out = pathlib.Path(sys.argv[1])
out.with_suffix(".argv").write_text(" ".join(sys.argv[2:]))
print("Forwarding from 127.0.0.1:43210 -> 8000", flush=True)
# what kubectl prints per connection: far more than a pipe holds (64 KiB)
for _ in range(20000):
    print("Handling connection for 43210", flush=True)
out.with_suffix(".done").write_text("")
time.sleep(3600)
"""


def test_port_forward_targets_the_pod_and_keeps_draining_its_output(tmp_path: Path) -> None:
    script = tmp_path / "kubectl.py"
    script.write_text(_FAKE_KUBECTL)
    kubectl = tmp_path / "kubectl"
    marker = tmp_path / "fake"
    kubectl.write_text(f'#!/bin/sh\nexec {sys.executable} {script} {marker} "$@"\n')
    kubectl.chmod(0o755)
    with endpoint.port_forward(
        str(kubectl), "kc", "ctx", "ns", "vllm", 8000, target="pod/relay-vllm-1"
    ) as url:
        assert url == "http://127.0.0.1:43210"
        # ~600 KB of chatter: the fake gets past it only while someone reads its pipe (the
        # deadline only guards against a hang)
        assert wait_until(marker.with_suffix(".done").exists, 60.0, interval_s=0.05)
    argv = marker.with_suffix(".argv").read_text().split()
    assert argv[-2:] == ["pod/relay-vllm-1", "0:8000"] and "svc/vllm" not in argv
