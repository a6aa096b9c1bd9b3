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

On ``--sg-overlay engine`` the check skips (:data:`NOT_ON_ENGINE`): llama-server's image
carries its model, so there is no download for a cache to save.
"""

from __future__ import annotations

from typing import Any

import pytest

from servegate.checks.patterns import coldstart
from servegate.checks.patterns.figures import cache_problems, cold_start_markdown, spread
from servegate.errors import MissingCapability
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.harness.settings import Settings
from servegate.k8s.nodes import real_node_selector
from servegate.report.run_index import RunResults

pytestmark = [pytest.mark.benchmark, pytest.mark.e2e, pytest.mark.vllm_deployment]

DOWNLOAD_S = 6.0
LOAD_S = 1.5
REPEATS = 3
MODEL = "llm"  # --model-name of the unit's sim overlay
NOT_ON_ENGINE = (
    "not on the engine overlay: this check times the simulator's simulated model download "
    "(--download-delay-s) with and without a cache; llama-server's image carries its tiny "
    "model (/models/tiny-llama.gguf), so there is no download for a cache to save, and "
    "timing the simulator here would not be the engine's cold start"
)
NO_CACHE = "emptyDir (no persistent cache)"
PRIMING = "persistent cache, first start (fills it)"
WARM = "persistent cache, model present"


def test_cold_start_with_and_without_model_cache(
    sg_cluster: ClusterHandle,
    deploy_unit: DeployUnit,
    sg_results: RunResults,
    sg_settings: Settings,
) -> None:
    if sg_settings.overlay == "engine":
        pytest.skip(NOT_ON_ENGINE)
    if sg_cluster.kind != "local":
        raise MissingCapability(
            "cold start uses a hostPath model cache on the real node and the sim overlay: "
            "local cluster only (deselect it elsewhere, or it fails under --sg-strict)"
        )
    template = coldstart.deployment_template("vllm-deployment", "sim", sg_cluster.scope)
    sim_args = ["--model-cache", coldstart.CACHE_MOUNT, "--download-delay-s", str(DOWNLOAD_S)]
    sim_args += ["--startup-delay-s", str(LOAD_S)]
    extra = coldstart.dev_source()
    samples: list[coldstart.Sample] = []
    with (
        deploy_unit("vllm-deployment", mutate=coldstart.namespace_only) as dep,
        coldstart.host_cache(dep.namespace) as persistent,
    ):
        fresh: dict[str, Any] = {"emptyDir": {}}
        plan = [(NO_CACHE, fresh)] * REPEATS + [(PRIMING, persistent)]
        plan += [(WARM, persistent)] * REPEATS
        for i, (variant, volume) in enumerate(plan):
            pod = coldstart.cold_start_pod(
                template, f"cold-{i}", volume, sim_args, real_node_selector(), extra
            )
            samples.append(coldstart.measure(sg_cluster.client, dep.namespace, pod, variant, MODEL))
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
