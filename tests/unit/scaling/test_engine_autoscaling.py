"""The HPA queue-depth check on the engine overlay (llama.cpp's llama-server): the metric
names the sampler reads per overlay, the variant's args and HPA metric, the skips, and the
per-pod served work in output tokens. Expectations are written out by hand."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from servegate.checks.autoscaling import hpa as hpa_module
from servegate.checks.autoscaling.connections import (
    CHURN,
    KEEP_ALIVE,
    OUTPUT_TOKENS,
    most_served,
    per_pod_figures,
    ramp_profile,
    replicas_served_verdict,
)
from servegate.checks.autoscaling.fixtures import hpa_check
from servegate.checks.autoscaling.hpa import ENGINE_RAMP_PROFILE, HpaCheck, hpa_for, variant
from servegate.checks.autoscaling.overlays import (
    KEEP_ALIVE_NOT_ON_ENGINE,
    NOT_CPU_ON_ENGINE,
    engine_args,
    not_served,
    queue_metric_for,
)
from servegate.errors import UserError
from servegate.harness.scaling import (
    LLAMACPP_METRICS,
    VLLM_METRICS,
    probe_queries,
    server_metrics,
)
from servegate.k8s.render import render_unit, resolve_unit
from servegate.metrics.replica_traffic import check_replicas_served, pods_text
from servegate.metrics.scaling import ScalingSample, served_unit
from servegate.paths import LOADPROFILES
from servegate.report.scaling import scaling_markdown

QUEUE_ENV = {"SERVEGATE_SIM_MAX_NUM_SEQS": "2", "SERVEGATE_SIM_DECODE_BASE_S": "0.02"}
CPU_ENV = {"SERVEGATE_SIM_MAX_NUM_SEQS": "64", "SERVEGATE_SIM_DECODE_BASE_S": "0.005"}

# --- metric names per overlay ------------------------------------------------------------


def test_the_engine_is_sampled_on_llama_servers_names() -> None:
    assert server_metrics("engine") is LLAMACPP_METRICS
    for overlay in ("sim", "llmd", "gpu"):
        assert server_metrics(overlay) is VLLM_METRICS


def test_llama_server_queries_have_no_latency_and_count_output_tokens() -> None:
    assert probe_queries(LLAMACPP_METRICS, "sg-x") == {
        "queue_depth": 'sum(llamacpp:requests_deferred{namespace="sg-x"})',
        "queue_by_pod": 'sum by (pod) (llamacpp:requests_deferred{namespace="sg-x"})',
        "served_by_pod": 'sum by (pod) (llamacpp:tokens_predicted_total{namespace="sg-x"})',
    }
    assert LLAMACPP_METRICS.served_unit == OUTPUT_TOKENS == "output tokens"


def test_vllm_queries_are_the_ones_the_sampler_always_ran() -> None:
    assert probe_queries(VLLM_METRICS, "sg-x") == {
        "queue_depth": 'sum(vllm:num_requests_waiting{namespace="sg-x"})',
        "queue_by_pod": 'sum by (pod) (vllm:num_requests_waiting{namespace="sg-x"})',
        "p50_ms": "1000 * histogram_quantile(0.5, sum by (le) (rate("
        'vllm:e2e_request_latency_seconds_bucket{namespace="sg-x"}[20s])))',
        "p99_ms": "1000 * histogram_quantile(0.99, sum by (le) (rate("
        'vllm:e2e_request_latency_seconds_bucket{namespace="sg-x"}[20s])))',
        "served_by_pod": 'sum by (pod) (vllm:request_success_total{namespace="sg-x"})',
    }
    assert VLLM_METRICS.served_unit == "requests"


def test_an_old_series_without_a_unit_reads_as_requests() -> None:
    s = ScalingSample.from_json({"t": 0.0, "wall": 0.0, "served_by_pod": {"a": 3.0}})
    assert s.served_unit == "requests"
    assert served_unit([s]) == "requests"
    tokens = ScalingSample(t=1.0, wall=1.0, served_by_pod={"a": 96.0}, served_unit=OUTPUT_TOKENS)
    assert served_unit([ScalingSample(t=0.0, wall=0.0), tokens]) == "output tokens"
    assert served_unit([]) == "requests"
    assert ScalingSample.from_json(tokens.to_json()) == tokens


# --- the variant ---------------------------------------------------------------------------


def test_engine_args_set_the_slots_as_a_separate_value() -> None:
    args = ["--model", "/m.gguf", "--parallel", "4", "--threads", "2"]
    assert engine_args(args, QUEUE_ENV) == [
        "--model",
        "/m.gguf",
        "--parallel",
        "2",
        "--threads",
        "2",
    ]
    assert args[3] == "4"  # the input is left as it was
    assert engine_args(["--model", "/m.gguf"], QUEUE_ENV) == [
        "--model",
        "/m.gguf",
        "--parallel",
        "2",
    ]
    # the decode-time knob sets nothing: the engine's decode is its compute
    assert engine_args(args, {"SERVEGATE_SIM_DECODE_BASE_S": "0.02"}) == args


def test_engine_args_refuse_a_knob_without_a_flag() -> None:
    with pytest.raises(
        UserError, match="llama-server has no flag for SERVEGATE_SIM_DECODE_PER_SEQ_S"
    ):
        engine_args(["--parallel", "4"], {"SERVEGATE_SIM_DECODE_PER_SEQ_S": "0.001"})


def test_engine_variant_has_two_slots_and_scales_on_requests_deferred() -> None:
    objs = render_unit(resolve_unit("vllm-deployment", "engine"))
    out = variant(
        lambda t: queue_metric_for("engine", hpa_for("hpa-queue-depth", t, max_replicas=3)),
        QUEUE_ENV,
        drop_gpu=True,
    )(objs)
    (dep,) = [o for o in out if o["kind"] == "Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["image"].startswith("servegate.local/engine:")
    args = c["args"]
    assert args.count("--parallel") == 1 and args[args.index("--parallel") + 1] == "2"
    assert not [a for a in args if a.startswith("--") and "=" in a]
    assert args[args.index("--ctx-size") + 1] == "8192"  # the rest as the overlay has it
    assert not [e for e in c.get("env", []) if e["name"].startswith("SERVEGATE_SIM_")]
    assert "nvidia.com/gpu" not in c["resources"]["requests"]
    assert c["resources"]["requests"]["cpu"] == "1"
    (hpa,) = [o for o in out if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "llamacpp_requests_deferred"},
                "target": {"type": "AverageValue", "averageValue": "5"},
            },
        }
    ]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "vllm" and hpa["spec"]["maxReplicas"] == 3


def test_queue_metric_is_renamed_only_on_the_engine() -> None:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "vllm"}}
    shipped = hpa_for("hpa-queue-depth", target)
    assert queue_metric_for("sim", shipped) == shipped
    assert queue_metric_for("llmd", shipped) == shipped
    renamed = queue_metric_for("engine", shipped)
    assert renamed["spec"]["metrics"][0]["pods"]["metric"]["name"] == "llamacpp_requests_deferred"
    assert shipped["spec"]["metrics"][0]["pods"]["metric"]["name"] == "vllm_num_requests_waiting"
    other: list[dict[str, Any]] = [
        {"type": "Pods", "pods": {"metric": {"name": "vllm_no_such"}, "target": {}}}
    ]
    broken = hpa_for("hpa-queue-depth", target, metrics=other)
    assert queue_metric_for("engine", broken) == broken  # a deliberately wrong name stays wrong


# --- what runs where ------------------------------------------------------------------------


def test_not_served_per_overlay() -> None:
    assert not_served("sim", "hpa-cpu", CPU_ENV) is None
    assert not_served("sim", "hpa-queue-depth", QUEUE_ENV) is None
    assert not_served("engine", "hpa-queue-depth", QUEUE_ENV) is None
    assert not_served("engine", "hpa-cpu", CPU_ENV) == NOT_CPU_ON_ENGINE
    assert not_served("engine", "hpa-queue-depth", {"SERVEGATE_SIM_DECODE_PER_SEQ_S": "1"}) == (
        "not on the engine overlay: this check sets SERVEGATE_SIM_DECODE_PER_SEQ_S, a simulator"
        " knob llama-server has no flag for"
    )
    assert not_served("llmd", "hpa-queue-depth", QUEUE_ENV) is None
    assert not_served("llmd", "hpa-queue-depth", {"SERVEGATE_SIM_DECODE_PER_SEQ_S": "1"}) == (
        "not on the llmd overlay: this check sets SERVEGATE_SIM_DECODE_PER_SEQ_S, a simulator"
        " knob llm-d-inference-sim has no flag for"
    )


def _check(overlay: str, via_fixture: bool = True) -> HpaCheck:
    parts: tuple[Any, ...] = (SimpleNamespace(kind="local"), None, None, None, None, overlay)
    if via_fixture:
        return hpa_check(*parts)
    return HpaCheck(*parts)


def test_the_fixture_skips_what_the_overlay_cannot_serve() -> None:
    with pytest.raises(pytest.skip.Exception, match="CPU check's request"):
        _check("engine").variant("hpa-cpu", CPU_ENV)
    with pytest.raises(pytest.skip.Exception, match="SERVEGATE_SIM_DECODE_PER_SEQ_S"):
        _check("llmd").variant("hpa-queue-depth", {"SERVEGATE_SIM_DECODE_PER_SEQ_S": "0.001"})
    with pytest.raises(pytest.skip.Exception, match="closes every streamed response"):
        _check("engine").ramp(lambda o: o, "q", "t", 1.0, 1.0, connections=KEEP_ALIVE)
    assert "keep-alive" not in NOT_CPU_ON_ENGINE and "connection" in KEEP_ALIVE_NOT_ON_ENGINE
    # what the overlays can serve returns a variant
    _check("engine").variant("hpa-queue-depth", QUEUE_ENV, max_replicas=3)
    _check("llmd").variant("hpa-queue-depth", QUEUE_ENV)
    _check("sim").variant("hpa-cpu", CPU_ENV)


def test_outside_the_fixture_a_variant_not_served_is_an_error() -> None:
    with pytest.raises(UserError, match="CPU check's request"):
        _check("engine", via_fixture=False).variant("hpa-cpu", CPU_ENV)


def test_the_queue_metric_per_overlay() -> None:
    assert _check("engine").queue_metric == "llamacpp_requests_deferred"
    assert _check("sim").queue_metric == "vllm_num_requests_waiting"
    assert _check("llmd").queue_metric == "vllm_num_requests_waiting"


def test_the_hpa_check_module_does_not_import_pytest() -> None:
    tree = ast.parse(Path(hpa_module.__file__).read_text())
    imported = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    } | {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "pytest" not in imported and "_pytest" not in imported


# --- the engine's ramp and its per-pod output tokens ----------------------------------------


def test_the_engine_ramp_churns_a_connection_per_request(tmp_path: Path) -> None:
    # accepted as the shipped (churn) variant; its other keys: tests/unit/config
    path = ramp_profile(ENGINE_RAMP_PROFILE, CHURN, tmp_path)
    assert path == LOADPROFILES / "ramp-autoscale-engine.yaml"
    assert yaml.safe_load(path.read_text())["connections"] == {"mode": "per-request"}


def test_most_served_in_output_tokens() -> None:
    path = LOADPROFILES / f"{ENGINE_RAMP_PROFILE}.yaml"
    # 400 recorded + 12 users in flight + ceil(2 % of 400) = 420 requests, 48 tokens each
    assert most_served(400, path, "requests") == 420
    assert most_served(400, path, OUTPUT_TOKENS) == 420 * 48 == 20160
    with pytest.raises(ValueError, match="unit must be"):
        most_served(400, path, "bytes")


def tok(t: float, pods: tuple[str, ...], served: dict[str, float]) -> ScalingSample:
    return ScalingSample(
        t=t, wall=t, ready_pods=pods, served_by_pod=served, served_unit=OUTPUT_TOKENS
    )


# a Ready throughout, b from 10 s; load 0-60 s; a predicts 48 tokens a second, b 24
TOKENS = [
    tok(t, ("a",) if t < 10 else ("a", "b"), {"a": 48.0 * t, "b": 24.0 * max(t - 10, 0)})
    for t in range(0, 70, 10)
]


def test_per_pod_output_tokens_are_never_called_requests() -> None:
    figs = per_pod_figures(TOKENS, 0.0, 60.0, 95)
    assert figs["output_tokens_per_pod"] == {"a": 2880, "b": 1200}  # 48 x 60, 24 x 50
    assert figs["served_unit"] == "output tokens"
    assert "requests_per_pod" not in figs
    assert figs["requests_recorded_by_client"] == 95  # the client's own count, in requests
    assert pods_text(None, {"a": 2880, "b": 1200}, OUTPUT_TOKENS) == (
        "a: 2880 output tokens; b: 1200 output tokens"
    )
    assert replicas_served_verdict(TOKENS, 0.0, 60.0, 4080) == (
        "every replica Ready for >= 30s of the load served output tokens"
    )
    # 4080 tokens counted, at most 4079 possible: the counts are wrong
    assert "pods count 4080 output tokens, more than the 4079" in replicas_served_verdict(
        TOKENS, 0.0, 60.0, 4079
    )


def test_an_idle_replica_served_no_output_tokens() -> None:
    idle = [tok(s.t, s.ready_pods or (), {"a": s.served_by_pod["a"]}) for s in TOKENS]
    msg = check_replicas_served(idle, 0.0, 60.0, 30.0)
    assert msg is not None
    assert msg.startswith(
        "1 of 2 replicas Ready for >= 30s of the load served no output tokens (b)"
    )
    assert "a: 2880 output tokens, Ready 60s of the load; b: 0 output tokens, Ready 50s" in msg


def test_the_report_names_the_unit() -> None:
    md = scaling_markdown(TOKENS, marks={"load start": 0.0, "load stop": 60.0})
    assert "Served work (output tokens) per pod: a: 2880 output tokens, Ready 60s" in md
    assert "| p50 ms | p99 ms | served per pod, output tokens |" in md.splitlines()[2]
    assert "Requests completed" not in md
