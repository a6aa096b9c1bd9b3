"""Sweep to saturation of the vLLM Deployment pattern on the cluster.

Setup: deploy vllm-deployment (the run's overlay). Assess: open-loop Poisson rates 4, 16,
28, ... req/s, 8 s per step (loadprofiles/patterns/pattern-sweep.yaml), judged per step after
a 2 s settle (error rate <= 1 %, achieved >= 90 % of offered, p99 TTFT <= 2000 ms); the run
stops after the first failing step. With ``--sg-overlay engine`` (llama.cpp's llama-server
on CPU, docs/engine.md) the steps are 4, 8, 12, ... req/s, 10 s each, with the same
criteria (loadprofiles/patterns/pattern-sweep-engine.yaml: the engine's short chat, a new
connection per request): the default's 12 req/s steps would cross one engine pod's knee in a
step or two. The run's report.html plots throughput against p99 TTFT and TPOT (one point per
step); the session index gets the knee, the step table and the same plot. On the local
cluster "saturation" is that of the whole machine (model server, kube-proxy and load
generator share 2 cores), which the section states. Teardown: the deploy fixture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from servegate.checks.patterns.env import serving_service, wait_serving
from servegate.checks.patterns.figures import markdown_table, sweep_knee
from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.load import RunProfile
from servegate.harness.settings import Settings
from servegate.report.html import sweep_figure
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.benchmark, pytest.mark.e2e, pytest.mark.vllm_deployment]

PROFILE = "patterns/pattern-sweep"
PROFILES = {"engine": "patterns/pattern-sweep-engine"}
"""The sweep per overlay where the default's steps do not fit the server: one CPU engine pod
would be crossed in a step or two of 12 req/s."""
SERVERS = {
    "engine": "llama.cpp's llama-server (engine overlay), real compute on the node's CPUs",
    "llmd": "llm-d-inference-sim (llmd overlay)",
}


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def step_verdicts(run_dir: Path) -> list[dict[str, Any]]:
    """The load engine's per-step judgements (load.json), as the sweep saw them."""
    doc = json.loads((run_dir / "load.json").read_text())
    return list(doc.get("verdicts") or [])


def _verdict(v: dict[str, Any] | None) -> str:
    if v is None:
        return "-"
    return "pass" if v.get("passed") else f"FAIL: {v.get('reason', '')}"


def test_sweep_to_saturation_on_vllm_deployment(
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    run_profile: RunProfile,
    sg_results: RunResults,
    sg_settings: Settings,
) -> None:
    overlay = sg_settings.overlay
    profile = PROFILES.get(overlay, PROFILE)
    server = SERVERS.get(overlay, f"servegate's simulator ({overlay} overlay)")
    with (
        deploy_unit("vllm-deployment", timeout_s=600) as dep,
        service_url(sg_cluster, dep.namespace, serving_service(dep.objects)) as url,
    ):
        wait_serving(url)
        res = run_profile(profile, url, model="auto")
    s = res.summary
    verdicts = {v["step"]: v for v in step_verdicts(res.run_dir)}
    rows = [
        {
            "step": st.name,
            "offered req/s": _f(st.rate_rps, "g"),
            "achieved req/s": _f(st.throughput.requests_per_s, ".2f"),
            "out tok/s": _f(st.throughput.output_tokens_per_s, ".1f"),
            "TTFT p99 ms": _f(st.latency.ttft.p99, ".1f"),
            "TPOT p99 ms": _f(st.latency.tpot.p99, ".2f"),
            "errors": str(st.counts.failed),
            "step verdict": _verdict(verdicts.get(i)),
        }
        for i, st in enumerate(s.stages)
    ]
    k = sweep_knee([verdicts[i] for i in sorted(verdicts)])
    cols = tuple(rows[0]) if rows else ("step",)
    top = max((st.throughput.requests_per_s for st in s.stages), default=0.0)
    md = (
        f"**Knee: {k['text']}**\n\n"
        f"Run [{res.run_dir.name}]({res.run_dir.name}/report.md) against vllm-deployment, "
        f"served by {server}. Highest achieved rate: {top:.2f} req/s (whole step; the "
        "verdict counts only requests sent after the settle). Each step is judged after its "
        "settle; the sweep stops after the first step that fails its criteria. On the local "
        "cluster the model server, kube-proxy and the load generator share the machine's "
        "cores, so the knee is the machine's, not a GPU's.\n\n" + markdown_table(cols, rows)
    )
    sg_results.section(
        "sweep-vllm-deployment",
        "Sweep to saturation: vllm-deployment",
        md,
        data={
            "run_dir": res.run_dir.name,
            "overlay": overlay,
            "profile": profile,
            "knee": k,
            "steps": rows,
            "verdicts": list(verdicts.values()),
        },
        figures=[sweep_figure([s])],
    )

    assert not res.problems, f"load engine problems: {res.problems}"
    assert len(s.stages) >= 2, f"the sweep produced {len(s.stages)} step(s)"
    rates = [st.throughput.requests_per_s for st in s.stages]
    # A sweep goes on only past a step that met its criteria, so two steps mean the lowest
    # rate was served; the second, at four times the rate, must then carry more.
    assert rates[1] > rates[0], f"throughput did not rise with offered load: {rates}"
    # Every step ran was judged, and only the last may have failed (the sweep stops there).
    assert len(verdicts) == len(s.stages), f"{len(verdicts)} verdicts for {len(s.stages)} steps"
    assert all(verdicts[i].get("passed") for i in range(len(s.stages) - 1)), verdicts
