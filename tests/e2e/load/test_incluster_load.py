"""In-cluster load generation on the local cluster: a small profile run by two worker pods
and a master pod (``--sg-load-from cluster``), its records read back into the results.

The oracle for "every request came back" is the simulator pods' own count of finished
requests (their Prometheus counters, read from each pod directly), not servegate's records.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.incluster import CALIBRATION_FILE
from servegate.harness.load import run_load
from servegate.k8s.loadpods import LOAD_RUN_LABEL
from servegate.metrics.io import read_records
from servegate.report.run_index import RunResults

pytestmark = pytest.mark.e2e

PROFILE = """
kind: Profile
name: incluster-e2e
api: chat
stream: true
model: sim-model
load: {type: closed}
shape: {type: steady, level: 4, duration: 12s}
warmup: 2s
prompt: {mean: 32}
output: {mean: 16}
ignore_eos: true
timeout: 30s
workers: 2
"""


def _finished(handle: ClusterHandle, namespace: str, selector: str) -> int:
    """Requests the simulator pods say they finished (the sum over every pod)."""
    total = 0.0
    pods = handle.client.core.list_namespaced_pod(namespace, label_selector=selector).items
    assert pods, selector
    for p in pods:
        url = f"http://{p.status.pod_ip}:8000/metrics"  # the local cluster routes to pods
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        for fam in text_string_to_metric_families(text):
            if fam.name == "vllm:request_success":
                total += sum(s.value for s in fam.samples if s.name.endswith("_total"))
    return int(total)


def test_worker_pods_send_the_load_and_their_records_come_back(
    sg_cluster: ClusterHandle, deploy_unit: DeployUnit, sg_results: RunResults, tmp_path: Path
) -> None:
    if sg_cluster.kind not in ("local", "kind"):
        pytest.skip("needs a cluster servegate made (its image holds the load engine)")
    profile = tmp_path / "incluster-e2e.yaml"
    profile.write_text(PROFILE)
    with deploy_unit("vllm-deployment", overlay="sim") as dep:
        svc = dep.find("Service")["metadata"]["name"]
        selector = ",".join(
            f"{k}={v}" for k, v in dep.find("Deployment")["spec"]["selector"]["matchLabels"].items()
        )
        before = _finished(sg_cluster, dep.namespace, selector)
        with service_url(sg_cluster, dep.namespace, svc) as url:
            res = run_load(sg_results, "incluster", profile, url, model="auto", load_from="cluster")
        after = _finished(sg_cluster, dep.namespace, selector)
        left = sg_cluster.client.core.list_namespaced_pod(
            dep.namespace, label_selector=LOAD_RUN_LABEL
        ).items
        assert [p.metadata.name for p in left] == []  # master, workers, calibration: deleted
    assert res.problems == []
    records = list(read_records(res.run_dir))
    ok = [r for r in records if r.ok]
    assert {r.worker for r in records} == {"w0", "w1"}  # one records file per worker pod
    # every request the simulators finished came back, except those finished for a client
    # that had already stopped (at most one per user)
    assert len(ok) <= after - before <= len(ok) + 4, (len(ok), after - before)
    assert all(r.server_recv_ns is not None for r in ok)  # answered by the simulator
    meta = json.loads((res.run_dir / "run.json").read_text())
    tags = meta["tags"]
    assert tags["generator"] == "in-cluster" and tags["generator_pods"] == "2"
    cal = json.loads((res.run_dir / CALIBRATION_FILE).read_text())
    assert meta["generator_ceiling_rps"] == pytest.approx(2 * cal["ceiling_rps_per_worker"])
    assert cal["ceiling_rps_per_worker"] > 0
    assert (res.run_dir / "logs" / "worker-1.log").read_text()
