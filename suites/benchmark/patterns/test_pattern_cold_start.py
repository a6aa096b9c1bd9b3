"""Model cold start, pod creation -> first streamed token, with and without a model cache.

Setup: the vllm-deployment unit's namespace objects (quota, priority class, secrets) without
its Deployment; the pod template of its Deployment is then created as bare pods, one at a
time. The simulator "downloads" the model (DOWNLOAD_S) into /root/.cache/huggingface unless a
previous start left it there, then "loads" it (LOAD_S) (servegate sim --model-cache).
Variants: the unit's own per-pod emptyDir (every new pod downloads again) and a cache that
outlives the pod. In production that is a PVC (components/storage); the local cluster has no
storage provisioner, so it is a hostPath directory private to this test
(/var/tmp/servegate-model-cache/<namespace>, DirectoryOrCreate), which has the property
that matters: a later pod on the node sees what an earlier one wrote. The first start with
that cache fills it and is reported on its own line.
Assess: every sample reaches its first token, and the simulator reports a cache miss for every
emptyDir start and for the priming start, and a hit for every later start with the cache.
The medians and spreads go into the session index (no timing is asserted). Teardown: each
pod is deleted after its sample; the namespace by the deploy fixture; the hostPath directory
is removed from the node (the local node is this host).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from coldstart_env import CACHE_MOUNT, Sample, cold_start_pod, measure
from pattern_figures import cache_problems, cold_start_markdown, spread

from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.k8s.deploy import per_run_names
from servegate.k8s.nodes import REAL_NODE_LABEL
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.benchmark, pytest.mark.e2e, pytest.mark.vllm_deployment]

DOWNLOAD_S = 6.0
LOAD_S = 1.5
REPEATS = 3
MODEL = "llm"  # --model-name of the unit's sim overlay
CACHE_ROOT = Path("/var/tmp/servegate-model-cache")
# Developer option: run the simulator from this source tree (mounted over the image's copy),
# for a local cluster whose image was built before `servegate sim --model-cache` existed.
DEV_SOURCE_ENV = "SERVEGATE_DEV_SIM_SOURCE"
NO_CACHE = "emptyDir (no persistent cache)"
PRIMING = "persistent cache, first start (fills it)"
WARM = "persistent cache, model present"


def _namespace_only(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # No workload (the pods are created bare) and no NetworkPolicy (the suite asks the pod
    # directly from the host; isolation is another suite's concern).
    skip = {"Deployment", "ScaledObject", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    skip.add("NetworkPolicy")
    return [o for o in objects if o.get("kind") not in skip]


def _dev_source() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    src = os.environ.get(DEV_SOURCE_ENV)
    if not src:
        return []
    pkg = Path(src).resolve() / "servegate"
    if not (pkg / "sim" / "modelcache.py").is_file():
        pytest.fail(f"{DEV_SOURCE_ENV}={src}: no servegate/sim/modelcache.py there", False)
    volume = {"name": "dev-servegate", "hostPath": {"path": str(pkg), "type": "Directory"}}
    mount = {"name": "dev-servegate", "mountPath": "/opt/servegate/servegate", "readOnly": True}
    return [(volume, mount)]


def test_cold_start_with_and_without_model_cache(
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    sg_results: RunResults,
) -> None:
    from servegate.k8s.render import render_unit, resolve_unit

    if sg_cluster.kind != "local":
        pytest.skip("cold start uses a hostPath cache and the sim overlay: local cluster only")
    rendered = per_run_names(render_unit(resolve_unit("vllm-deployment", "sim")), sg_cluster.scope)
    template = next(o for o in rendered if o["kind"] == "Deployment")["spec"]["template"]
    sim_args = ["--model-cache", CACHE_MOUNT, "--download-delay-s", str(DOWNLOAD_S)]
    sim_args += ["--startup-delay-s", str(LOAD_S)]
    selector = {REAL_NODE_LABEL[0]: REAL_NODE_LABEL[1]}
    extra = _dev_source()
    samples: list[Sample] = []
    with deploy_unit("vllm-deployment", mutate=_namespace_only) as dep:
        cache_dir = CACHE_ROOT / dep.namespace
        persistent = {"hostPath": {"path": str(cache_dir), "type": "DirectoryOrCreate"}}
        fresh: dict[str, Any] = {"emptyDir": {}}
        plan = [(NO_CACHE, fresh)] * REPEATS + [(PRIMING, persistent)]
        plan += [(WARM, persistent)] * REPEATS
        try:
            for i, (variant, volume) in enumerate(plan):
                pod = cold_start_pod(template, f"cold-{i}", volume, sim_args, selector, extra)
                try:
                    samples.append(measure(sg_cluster.client, dep.namespace, pod, variant, MODEL))
                except UserError as exc:
                    hint = ""
                    if "no such option" in str(exc).lower():
                        hint = (
                            " (the cluster's simulator image predates --model-cache: rebuild "
                            f"it with `servegate cluster down` and `up`, or set {DEV_SOURCE_ENV})"
                        )
                    pytest.fail(f"{variant}: {exc}{hint}", pytrace=False)
        finally:
            if cache_dir.parent == CACHE_ROOT and cache_dir.exists():
                shutil.rmtree(cache_dir)
            with contextlib.suppress(OSError):
                CACHE_ROOT.rmdir()  # only when empty: another run may be using it
    by_variant: dict[str, list[float]] = {}
    for smp in samples:
        by_variant.setdefault(smp.variant, []).append(smp.seconds)
    notes = {NO_CACHE: "emptyDir (the unit's own)", PRIMING: "hostPath", WARM: "hostPath"}
    md = (
        f"Pod creation (create call) -> first streamed token, asked of the pod every 50 ms. "
        f"Simulated download {DOWNLOAD_S:g} s, load {LOAD_S:g} s; the rest is scheduling, "
        "sandbox, container start and the simulator's own start. The persistent cache is a "
        "hostPath on the local cluster (no storage provisioner), a PVC elsewhere "
        "(components/storage).\n\n" + cold_start_markdown(by_variant, notes)
    )
    data = {
        "download_s": DOWNLOAD_S,
        "load_s": LOAD_S,
        "variants": {v: spread(xs).__dict__ for v, xs in by_variant.items()},
        "samples": [s.__dict__ for s in samples],
    }
    sg_results.section("cold-start", "Model cold start: pod creation -> first token", md, data)

    wrong = cache_problems((s.pod, s.plan, s.variant == WARM) for s in samples)
    assert not wrong, "the model cache did not behave as the variant requires:\n" + "\n".join(wrong)
