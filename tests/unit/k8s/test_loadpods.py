"""Load-generator pods (servegate.k8s.loadpods): the objects, and reading a run back.

The record-collection tests run the very shell command the keeper container runs (tar and
base64 of this machine, as in the image's Debian), so the bytes unpacked are what a pod
would send; the oracle for the records is what was written before packing.
"""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from servegate.k8s import loadpods
from servegate.load.runner import master_args, worker_args
from servegate.metrics.io import RecordWriter, read_records
from servegate.metrics.record import RequestRecord
from servegate.paths import REPO

LABELS = {"app.kubernetes.io/managed-by": "servegate", "servegate.dev/run-id": "r1"}


def _master(nodes: tuple[str, ...] | None = None) -> dict[str, Any]:
    args = ["--master", "--master-bind-host", "0.0.0.0", "--sg-run-dir", loadpods.RESULTS_DIR]
    return loadpods.master_pod("load-x-master", "sg-1", LABELS, args, nodes)


def test_master_pod_keeps_its_results_volume_after_the_master_ends() -> None:
    pod = _master()
    spec = pod["spec"]
    master, keeper = spec["containers"]
    assert (master["name"], keeper["name"]) == ("master", "keeper")
    assert spec["restartPolicy"] == "Never"  # a finished master is not started again
    mounts = {c["name"]: {m["mountPath"]: m["name"] for m in c["volumeMounts"]} for c in (
        master, keeper
    )}  # fmt: skip
    assert mounts["master"][loadpods.RESULTS_DIR] == mounts["keeper"][loadpods.RESULTS_DIR]
    assert {"name": "results", "emptyDir": {}} in spec["volumes"]
    assert keeper["command"] == ["sleep", "infinity"]
    assert master["command"][:5] == ["python3", "-m", "locust", "-f", loadpods.LOCUSTFILE]
    assert pod["metadata"]["labels"] == {**LABELS, loadpods.ROLE_LABEL: "master"}
    assert "affinity" not in spec and spec["automountServiceAccountToken"] is False


def test_the_image_holds_the_locustfile_where_the_pods_run_it() -> None:
    # the image installs servegate's modules under SITE with their paths in this checkout
    rel = Path(loadpods.LOCUSTFILE).relative_to(loadpods.SITE)
    assert (REPO / rel).is_file()


def test_pods_run_only_on_nodes_that_run_containers() -> None:
    pod = _master(("node-a",))
    term = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["node-a"]


def _policy_selector() -> dict[str, str]:
    doc = yaml.safe_load((REPO / "manifests/components/policies/networkpolicy.yaml").read_text())
    (rule,) = doc["spec"]["ingress"]
    (peer,) = rule["from"]
    return dict(peer["podSelector"]["matchLabels"])


def test_workers_are_clients_the_reference_network_policy_admits() -> None:
    pod = loadpods.worker_pod("load-x-w0", "sg-1", LABELS, "w0", worker_args("10.0.0.5", 5557))
    labels = pod["metadata"]["labels"]
    # the oracle: the shipped NetworkPolicy's own client selector
    assert _policy_selector().items() <= labels.items()
    assert LABELS.items() <= labels.items() and labels[loadpods.ROLE_LABEL] == "worker"
    (c,) = pod["spec"]["containers"]
    assert c["command"][-5:] == ["--worker", "--master-host", "10.0.0.5", "--master-port", "5557"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SERVEGATE_WORKER_NAME"] == "w0"  # its records file: records-w0.jsonl.gz
    assert "SERVEGATE_RECORDS_DIR" not in env  # so it ships its records to the master


def test_header_variables_reach_workers_from_a_secret_never_as_values() -> None:
    pod = loadpods.worker_pod(
        "w", "sg-1", LABELS, "w0", [], secret="load-x-env", secret_keys=("API_TOKEN",)
    )
    (c,) = pod["spec"]["containers"]
    (tok,) = [e for e in c["env"] if e["name"] == "API_TOKEN"]
    assert tok == {
        "name": "API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "load-x-env", "key": "API_TOKEN"}},
    }
    secret = loadpods.env_secret("load-x-env", "sg-1", LABELS, {"API_TOKEN": "s3cr3t"})
    assert secret["data"] == {"API_TOKEN": "czNjcjN0"}  # base64 of s3cr3t
    assert secret["metadata"]["labels"] == LABELS


def test_master_arguments_bind_every_address_and_expect_the_worker_pods() -> None:
    from servegate.load.calibration_run import Setup, probe_profile
    from servegate.load.runner import RunPlan

    plan = RunPlan(probe_profile(10, Setup(), 2.0), "http://vllm.sg-1.svc:8000", Path("/x"), 3)
    args = master_args(plan, "0.0.0.0", 5557, loadpods.RESULTS_DIR, 180)
    opt = {a: b for a, b in itertools.pairwise(args) if a.startswith("--")}
    assert opt["--master-bind-host"] == "0.0.0.0" and opt["--expect-workers"] == "3"
    assert opt["--host"] == "http://vllm.sg-1.svc:8000"
    assert opt["--sg-run-dir"] == loadpods.RESULTS_DIR and opt["--expect-workers-max-wait"] == "180"


def _record(i: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"r{i}",
        api="chat",
        stream=True,
        sent_ns=1_000 + i,
        end_ns=9_000 + i,
        chunks=[(100, 1), (200, 1)],
        status=200,
        worker="w0",
    )


def _pack(directory: Path) -> str:
    """The keeper's command, run here with the directory swapped in."""
    argv = loadpods.pack_command(str(directory))
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def test_records_written_in_the_pod_come_back_whole(tmp_path: Path) -> None:
    pod_dir = tmp_path / "pod"
    w = RecordWriter(pod_dir / "records" / "records-w0.jsonl.gz", flush_every=3)
    sent = [_record(i) for i in range(10)]
    w.write_many(sent)
    w.close()
    (pod_dir / "load.json").write_text('{"start_ns": 1}')
    dest = tmp_path / "run"
    dest.mkdir()
    written = loadpods.unpack(_pack(pod_dir), dest)
    assert written == ["load.json", "records/records-w0.jsonl.gz"]
    assert list(read_records(dest)) == sent
    assert (dest / "load.json").read_text() == '{"start_ns": 1}'


def test_records_of_an_interrupted_run_come_back_up_to_the_cut(tmp_path: Path) -> None:
    # the master flushes gzip members as it goes: a copy taken mid-run holds every member
    # written so far, even without load.json and with the file still open
    pod_dir = tmp_path / "pod"
    w = RecordWriter(pod_dir / "records" / "records-w1.jsonl.gz", flush_every=4)
    sent = [_record(i) for i in range(9)]
    w.write_many(sent)  # two members of 4 flushed, one record still in the buffer
    dest = tmp_path / "run"
    dest.mkdir()
    loadpods.unpack(_pack(pod_dir), dest)
    w.close()
    assert list(read_records(dest)) == sent[:8]


def test_an_archive_reaching_outside_the_run_directory_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"x"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    import base64

    dest = tmp_path / "run"
    dest.mkdir()
    with pytest.raises(tarfile.FilterError):
        loadpods.unpack(base64.b64encode(buf.getvalue()).decode(), dest)
    assert not (tmp_path / "escaped.txt").exists()


_FAKE_PYTHON = """#!/bin/sh
out=""; prev=""
for a in "$@"; do [ "$prev" = "--output" ] && out="$a"; prev="$a"; done
echo "probe 25 req/s: pass"
[ -n "$FAIL" ] && exit 1
printf '{"ceiling": 1}' > "$out"
"""


@pytest.mark.parametrize("fail", [False, True])
def test_calibration_pod_log_ends_with_the_file_only_when_calibrate_succeeded(
    tmp_path: Path, fail: bool
) -> None:
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(_FAKE_PYTHON)
    fake.chmod(0o755)
    pod = loadpods.calibration_pod("c", "sg-1", LABELS, ["--duration", "2"])
    (c,) = pod["spec"]["containers"]
    script = c["command"][2].replace("/tmp/calibration.json", str(tmp_path / "cal.json"))
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "FAIL": "1" if fail else ""}
    proc = subprocess.run(
        ["sh", "-c", script, *c["command"][3:]], env=env, capture_output=True, text=True
    )
    log = proc.stderr + proc.stdout  # the pod's log holds both streams
    assert loadpods.calibration_text(log) == (None if fail else '{"ceiling": 1}')
    assert c["resources"]["limits"]["cpu"] == "2"
    assert pod["metadata"]["labels"][loadpods.ROLE_LABEL] == "calibration"
