"""No secret reaches the published results of a run on a cluster (issue 10 item 6, issue 14
item 3).

The reference vLLM Deployment (sim overlay) gets its Hugging Face token Secret ``hf-token``
with a canary value, as the secrets component's SealedSecret would give it on a cluster with
the sealed-secrets controller. The canary is made to show up wherever a careless dump would
publish it: the model server prints its HF_TOKEN at start (container log), an Event quotes
it (event dump), the server takes it as its API key so the load run must send it in the
profile's Authorization header (from the environment), and a second canary travels in
another header. After a smoke-like run and the teardown's dumps, no file under the
session's results directory contains either canary; the dumps show ``<redacted>`` where it
stood, and every request succeeded, so the Secret did reach the pod and the header did
reach the server.
"""

from __future__ import annotations

import copy
import gzip
import secrets
from pathlib import Path
from typing import Any

import pytest

from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.load import RunProfile
from servegate.redact import REDACTED
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.e2e]

PROFILE = """\
kind: Profile
name: e2e-secrets
api: chat
model: llm
load: {type: closed}
shape: {type: steady, level: 2, duration: 8s}
warmup: 1s
prompt: {dist: uniform, mean: 32, min: 16, max: 48}
output: {dist: constant, mean: 8}
ignore_eos: true
workers: 1
headers:
  Authorization: "Bearer ${env:SG_E2E_API_TOKEN}"
  X-Request-Tag: "${env:SG_E2E_TAG}"
"""
SAYS = "model server starting with HF_TOKEN="


def hits(root: Path, needles: list[str]) -> list[str]:
    """Every file under ``root`` (gzip files decompressed) that holds one of ``needles``."""
    found = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        data = f.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        found += [f"{f}: {n}" for n in needles if n.encode() in data]
    return found


def _with_canary(token: str) -> Any:
    def mutate(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [o for o in objects if o.get("kind") != "SealedSecret"]  # no controller here
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "hf-token"},
                "type": "Opaque",
                "stringData": {"token": token},
            }
        )
        dep = next(o for o in out if o.get("kind") == "Deployment")
        i = out.index(dep)
        dep = out[i] = copy.deepcopy(dep)
        c = dep["spec"]["template"]["spec"]["containers"][0]
        # print the token the pod got, then serve with it as the API key
        c["command"] = ["sh", "-c", f'echo "{SAYS}$HF_TOKEN"; exec "$@"', "sh", *c["command"]]
        c["env"].append(
            {
                "name": "SERVEGATE_SIM_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
            }
        )
        return out

    return mutate


def _quote_in_event(handle: ClusterHandle, namespace: str, token: str) -> None:
    """An Event whose message quotes the token (a controller that logs a bad value)."""
    handle.client.core.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "sg-canary-event"},
            "involvedObject": {"kind": "Deployment", "name": "vllm", "namespace": namespace},
            "reason": "CanaryQuoted",
            "message": f"token in use: {token}",
            "type": "Normal",
        },
    )


def test_hf_token_and_header_canaries_reach_no_result_file(
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    sg_results: RunResults,
    sg_test_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sg_cluster.kind not in ("local", "kind"):
        pytest.skip("needs a cluster servegate made (the simulator image of the sim overlay)")
    token = f"hf_sgcanary{secrets.token_hex(10)}"
    tag = f"sg-canary-tag-{secrets.token_hex(8)}"
    monkeypatch.setenv("SG_E2E_API_TOKEN", token)
    monkeypatch.setenv("SG_E2E_TAG", tag)
    profile = tmp_path / "e2e-secrets.yaml"
    profile.write_text(PROFILE)
    with deploy_unit("vllm-deployment", overlay="sim", mutate=_with_canary(token)) as dep:
        _quote_in_event(sg_cluster, dep.namespace, token)
        svc = dep.find("Service")["metadata"]["name"]
        with service_url(sg_cluster, dep.namespace, svc) as url:
            res = run_profile(profile, url, model="llm")
    counts = res.summary.counts
    # the server refuses requests without its key (the Secret's value): the header got there
    assert counts.succeeded > 0 and counts.failed == 0, counts.errors
    dumps = sg_test_dir / "cluster"
    logs = [f.read_text() for f in (dumps / "logs").glob("*_vllm.log")]
    assert any(f"{SAYS}{REDACTED}" in text for text in logs), logs
    assert f"token in use: {REDACTED}" in (dumps / "events.txt").read_text()
    assert hits(sg_results.root, [token, tag]) == []
