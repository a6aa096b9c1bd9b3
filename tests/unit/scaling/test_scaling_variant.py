"""The autoscaling suites' test variant of vllm-deployment, checked on the rendered unit."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from servegate.checks.autoscaling.fixtures import hpa_check
from servegate.checks.autoscaling.hpa import (
    TEST_SCALE_DOWN,
    LoadInBackground,
    component_hpa,
    cpu_metric,
    hpa_for,
    load_end_wall,
    monitored,
    variant,
)
from servegate.checks.autoscaling.overlays import llmd_args
from servegate.errors import UserError
from servegate.k8s.render import render_unit, resolve_unit


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render_unit(resolve_unit("vllm-deployment", "sim"))


def kinds(objs: list[dict[str, Any]]) -> list[str]:
    return [o["kind"] for o in objs]


def test_variant_swaps_keda_for_the_component_hpa(rendered: list[dict[str, Any]]) -> None:
    assert "ScaledObject" in kinds(rendered)  # the overlay ships KEDA: the variant removes it
    env = {"SERVEGATE_SIM_MAX_NUM_SEQS": "2"}
    out = variant(lambda t: hpa_for("hpa-queue-depth", t, max_replicas=3), env, drop_gpu=True)(
        rendered
    )
    assert "ScaledObject" not in kinds(out) and "NetworkPolicy" not in kinds(out)
    (hpa,) = [o for o in out if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "vllm",
    }
    assert hpa["spec"]["maxReplicas"] == 3
    assert hpa["spec"]["behavior"]["scaleDown"] == TEST_SCALE_DOWN
    assert hpa["spec"]["metrics"] == component_hpa("hpa-queue-depth")["spec"]["metrics"]
    (dep,) = [o for o in out if o["kind"] == "Deployment"]
    pod = dep["spec"]["template"]
    # the unit's ServiceMonitor scrapes these pods: annotating them too would scrape twice
    assert "prometheus.io/scrape" not in (pod["metadata"].get("annotations") or {})
    (c,) = pod["spec"]["containers"]
    assert {"name": "SERVEGATE_SIM_MAX_NUM_SEQS", "value": "2"} in c["env"]
    assert "nvidia.com/gpu" not in c["resources"]["requests"]
    assert "nvidia.com/gpu" not in c["resources"].get("limits", {})
    # The input is left as it was (deploy_unit may render once and mutate per test).
    orig = next(o for o in rendered if o["kind"] == "Deployment")
    assert (
        "nvidia.com/gpu"
        in orig["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    )


def test_pods_are_annotated_for_scraping_only_without_a_service_monitor(
    rendered: list[dict[str, Any]],
) -> None:
    def annotations(objs: list[dict[str, Any]]) -> dict[str, str]:
        out = variant(lambda t: hpa_for("hpa-queue-depth", t), {})(objs)
        (dep,) = [o for o in out if o["kind"] == "Deployment"]
        return dict(dep["spec"]["template"]["metadata"].get("annotations") or {})

    labels = next(o for o in rendered if o["kind"] == "Deployment")["spec"]["template"]
    assert monitored(rendered, labels["metadata"]["labels"])
    unmonitored = [o for o in rendered if o["kind"] != "ServiceMonitor"]
    assert not monitored(unmonitored, labels["metadata"]["labels"])
    assert "prometheus.io/scrape" not in annotations(rendered)
    assert annotations(unmonitored)["prometheus.io/scrape"] == "true"
    assert annotations(unmonitored)["prometheus.io/port"] == "8000"


def test_cpu_request_and_metrics_override(rendered: list[dict[str, Any]]) -> None:
    metrics = cpu_metric(60)
    assert metrics == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ]
    out = variant(
        lambda t: hpa_for("hpa-cpu", t, min_replicas=1, metrics=metrics), {}, cpu_request="50m"
    )(rendered)
    (hpa,) = [o for o in out if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["metrics"] == metrics
    (dep,) = [o for o in out if o["kind"] == "Deployment"]
    res = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res["requests"]["cpu"] == "50m" and "nvidia.com/gpu" in res["requests"]


def test_variant_without_the_workload_is_an_error(rendered: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="no Deployment/StatefulSet named 'nope'"):
        variant(lambda t: hpa_for("hpa-cpu", t), {}, workload="nope")(rendered)


def test_background_load_reraises_its_failure() -> None:
    def boom() -> None:
        pytest.fail("load failed", pytrace=False)

    load = LoadInBackground(boom).start()
    with pytest.raises(pytest.fail.Exception, match="load failed"):
        load.join(10)
    assert LoadInBackground(lambda x: x * 2, 21).start().join(10) == 42


def test_load_end_is_read_from_the_run_record(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"end_ns": 1795832034368368219}')
    assert load_end_wall(SimpleNamespace(run_dir=tmp_path)) == pytest.approx(1795832034.368)
    (tmp_path / "run.json").write_text("garbage")
    assert load_end_wall(SimpleNamespace(run_dir=tmp_path)) is None
    assert load_end_wall(SimpleNamespace(run_dir=tmp_path / "missing")) is None


def test_llmd_variant_passes_the_knobs_as_its_flags() -> None:
    """On the llmd overlay the queue-depth knobs become llm-d-inference-sim's flags,
    replacing the overlay's values, and no SERVEGATE_SIM_* variable is set."""
    objs = render_unit(resolve_unit("vllm-deployment", "llmd"))
    env = {"SERVEGATE_SIM_MAX_NUM_SEQS": "2", "SERVEGATE_SIM_DECODE_BASE_S": "0.02"}
    out = variant(lambda t: hpa_for("hpa-queue-depth", t), env, drop_gpu=True)(objs)
    (dep,) = [o for o in out if o["kind"] == "Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert "--max-num-seqs=2" in c["args"] and "--inter-token-latency=20ms" in c["args"]
    names = [a.split("=", 1)[0] for a in c["args"]]
    assert names.count("--max-num-seqs") == names.count("--inter-token-latency") == 1
    assert not [e for e in c.get("env", []) if e["name"].startswith("SERVEGATE_SIM_")]


def test_llmd_args_refuse_a_knob_without_a_flag() -> None:
    with pytest.raises(UserError, match="SERVEGATE_SIM_DECODE_PER_SEQ_S"):
        llmd_args(["--max-num-seqs=16"], {"SERVEGATE_SIM_DECODE_PER_SEQ_S": "0.001"})


def test_llmd_check_skips_when_a_knob_has_no_flag() -> None:
    # the hpa fixture's check: a variant the overlay cannot serve skips
    check = hpa_check(
        SimpleNamespace(kind="local"),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        "llmd",
    )
    with pytest.raises(pytest.skip.Exception, match="SERVEGATE_SIM_DECODE_PER_SEQ_S"):
        check.variant("hpa-queue-depth", {"SERVEGATE_SIM_DECODE_PER_SEQ_S": "0.001"})
    # the knobs the queue-depth check sets all have flags: it runs
    check.variant(
        "hpa-queue-depth",
        {"SERVEGATE_SIM_MAX_NUM_SEQS": "2", "SERVEGATE_SIM_DECODE_BASE_S": "0.02"},
    )
