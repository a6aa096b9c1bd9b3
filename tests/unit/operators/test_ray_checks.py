"""The Ray Serve checks, shown able to fail: assess_serving, assess_gpu_sharing and
assess_serve_autoscaling pass on states shaped like KubeRay's, Serve's REST API's and Ray's
State API's answers (as saved by a run on the local cluster) and report each deliberately
broken copy naming what is wrong; the deploy mutations of the autoscaling and update checks;
assess_serve_config passes on both overlays' serveConfigV2 and reports each broken copy."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from servegate.checks.operators.raychecks import (
    assess_gpu_sharing,
    assess_serve_autoscaling,
    assess_serve_config,
    assess_serving,
    running_replicas,
    serve_apps,
)
from servegate.checks.operators.rayserve import _state_list, versioned_config, with_autoscaling
from servegate.k8s.render import render_unit, resolve_unit

Obj = dict[str, Any]

SERVE_CONFIG = """
applications:
  - name: text-generation
    route_prefix: /
    import_path: servegate.rayserve.app:build
    deployments: [{name: TextGeneration, ray_actor_options: {num_gpus: 0.5}}]
  - name: embedding
    route_prefix: /v1/embeddings
    import_path: servegate.rayserve.app:build
    deployments: [{name: Embedding, ray_actor_options: {num_gpus: 0.5}}]
"""
WANTED = {"text-generation": ["TextGeneration"], "embedding": ["Embedding"]}
WORKER, HEAD = "n-worker", "n-head"


def _rayservice() -> Obj:
    return {
        "spec": {"serveConfigV2": SERVE_CONFIG},
        "status": {
            "serviceStatus": "Running",
            "conditions": [{"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints"}],
        },
    }


def _app(deployment: str, prefix: str) -> Obj:
    replica = {"replica_id": "r1", "state": "RUNNING", "node_id": WORKER, "actor_id": "a"}
    return {
        "status": "RUNNING",
        "route_prefix": prefix,
        "message": "",
        "deployments": {deployment: {"status": "HEALTHY", "message": "", "replicas": [replica]}},
    }


def _serve() -> Obj:
    return {
        "applications": {
            "text-generation": _app("TextGeneration", "/"),
            "embedding": _app("Embedding", "/v1/embeddings"),
        }
    }


def test_serve_apps_read_from_the_unit_sim_overlay() -> None:
    rs = next(o for o in render_unit(resolve_unit("ray-serve", "sim")) if o["kind"] == "RayService")
    assert serve_apps(rs) == WANTED
    assert serve_apps(_rayservice()) == WANTED


def test_serving_passes_on_running_state() -> None:
    assert assess_serving(_rayservice(), _serve(), WANTED) == []


def _not_ready(rs: Obj, _serve: Obj) -> None:
    rs["status"]["conditions"][0].update(status="False", reason="NoServeEndpoints")
    rs["status"]["serviceStatus"] = ""


def _app_deploying(_rs: Obj, serve: Obj) -> None:
    serve["applications"]["embedding"].update(status="DEPLOY_FAILED", message="import failed")


def _app_missing(_rs: Obj, serve: Obj) -> None:
    del serve["applications"]["embedding"]


def _unhealthy(_rs: Obj, serve: Obj) -> None:
    dep = serve["applications"]["text-generation"]["deployments"]["TextGeneration"]
    dep.update(status="UNHEALTHY", message="replica died")


def _no_replica(_rs: Obj, serve: Obj) -> None:
    dep = serve["applications"]["embedding"]["deployments"]["Embedding"]
    dep["replicas"][0]["state"] = "STARTING"


def _api_down(_rs: Obj, serve: Obj) -> None:
    serve.clear()
    serve["error"] = "GET http://10.96.0.5:8265/api/serve/applications/: refused"


@pytest.mark.parametrize(
    ("breaks", "named"),
    [
        (_not_ready, "NoServeEndpoints"),
        (_app_deploying, "'embedding' is DEPLOY_FAILED: import failed"),
        (_app_missing, "application 'embedding' not in Serve's status"),
        (_unhealthy, "text-generation/TextGeneration is UNHEALTHY"),
        (_no_replica, "embedding/Embedding: no RUNNING replica"),
        (_api_down, "Serve's REST API: GET"),
    ],
)
def test_serving_reports_each_break(breaks: Callable[[Obj, Obj], None], named: str) -> None:
    rs, serve = _rayservice(), _serve()
    breaks(rs, serve)
    failures = assess_serving(rs, serve, WANTED)
    assert any(named in f for f in failures), failures


def test_serving_fails_on_a_config_without_applications() -> None:
    assert assess_serving(_rayservice(), _serve(), {}) != []


def _report(app: str, actor: str) -> Obj:
    return {
        "app": app,
        "actor_id": actor,
        "node_id": WORKER,
        "gpu_ids": ["0"],
        "assigned_resources": {"CPU": 0.5, "GPU": 0.5},
    }


def _sharing() -> tuple[list[Obj], list[Obj], list[Obj]]:
    reports = [_report("text-generation", "a1"), _report("embedding", "a2")]
    actors = [
        {
            "actor_id": a,
            "class_name": f"ServeReplica:{app}:{dep}",
            "state": "ALIVE",
            "node_id": WORKER,
            "required_resources": {"GPU": 0.5},
        }
        for a, (app, (dep,)) in zip(("a1", "a2"), WANTED.items(), strict=True)
    ]
    actors.append({"actor_id": "p", "class_name": "ProxyActor", "state": "ALIVE", "node_id": HEAD})
    nodes = [
        {"node_id": WORKER, "resources_total": {"CPU": 1.0, "GPU": 1.0}},
        {"node_id": HEAD, "resources_total": {"CPU": 0.0}},
    ]
    return reports, actors, nodes


def test_sharing_passes_on_two_halves_of_one_gpu() -> None:
    assert assess_gpu_sharing(*_sharing(), WANTED) == []


def _other_gpu(reports: list[Obj], _a: list[Obj], nodes: list[Obj]) -> None:
    reports[1]["gpu_ids"] = ["1"]
    nodes[0]["resources_total"]["GPU"] = 2.0


def _other_node(reports: list[Obj], actors: list[Obj], _n: list[Obj]) -> None:
    reports[1]["node_id"] = actors[1]["node_id"] = HEAD


def _whole_gpus(reports: list[Obj], actors: list[Obj], _n: list[Obj]) -> None:
    for r, a in zip(reports, actors[:2], strict=True):
        r["assigned_resources"]["GPU"] = a["required_resources"]["GPU"] = 1.0


def _no_gpu(reports: list[Obj], _a: list[Obj], _n: list[Obj]) -> None:
    reports[0]["gpu_ids"] = []


def _dead_actor(_r: list[Obj], actors: list[Obj], _n: list[Obj]) -> None:
    actors[0]["state"] = "DEAD"


def _unlisted_actor(_r: list[Obj], actors: list[Obj], _n: list[Obj]) -> None:
    del actors[1]


def _state_disagrees(_r: list[Obj], actors: list[Obj], _n: list[Obj]) -> None:
    actors[0]["required_resources"]["GPU"] = 0.25


def _one_report(reports: list[Obj], _a: list[Obj], _n: list[Obj]) -> None:
    del reports[1]


def _replica(actor: str, node: str, gpu: float, state: str = "ALIVE") -> Obj:
    return {
        "actor_id": actor,
        "class_name": "ServeReplica:embedding:Embedding",
        "state": state,
        "node_id": node,
        "required_resources": {"GPU": gpu},
    }


def _unreported_elsewhere(_r: list[Obj], actors: list[Obj], _n: list[Obj]) -> None:
    actors.append(_replica("a3", HEAD, 0.25))  # a second replica that did not answer


def _unreported_whole_gpu(_r: list[Obj], actors: list[Obj], _n: list[Obj]) -> None:
    actors.append(_replica("a3", WORKER, 1.0))


def _unreported_overfill(_r: list[Obj], actors: list[Obj], _n: list[Obj]) -> None:
    actors.append(_replica("a3", WORKER, 0.5))


@pytest.mark.parametrize(
    ("breaks", "named"),
    [
        (_other_gpu, "different GPUs"),
        (_other_node, "2 Ray nodes"),
        (_whole_gpus, "not a fraction of one"),
        (_no_gpu, "not exactly one"),
        (_dead_actor, "is DEAD"),
        (_unlisted_actor, "not in Ray's State API"),
        (_state_disagrees, "State API requires 0.25 GPU"),
        (_one_report, "no placement report from ['embedding']"),
        (_unreported_elsewhere, "embedding replica a3: on another Ray node"),
        (_unreported_whole_gpu, "embedding replica a3: requires 1 GPU, not a fraction"),
        (_unreported_overfill, "3 replicas require 1.5 GPUs in all"),
    ],
)
def test_sharing_reports_each_break(
    breaks: Callable[[list[Obj], list[Obj], list[Obj]], None], named: str
) -> None:
    reports, actors, nodes = copy.deepcopy(_sharing())
    breaks(reports, actors, nodes)
    failures = assess_gpu_sharing(reports, actors, nodes, WANTED)
    assert any(named in f for f in failures), failures


def test_sharing_counts_every_live_replica_but_not_dead_ones_or_other_actors() -> None:
    reports, actors, nodes = _sharing()
    for r, a in zip(reports, actors[:2], strict=True):
        r["assigned_resources"]["GPU"] = a["required_resources"]["GPU"] = 0.25
    actors += [_replica("a3", WORKER, 0.25), _replica("a4", WORKER, 0.25)]
    actors += [_replica("old", WORKER, 0.25, state="DEAD")]
    actors += [{**_replica("x", HEAD, 1.0), "class_name": "ServeReplica:other:Other"}]
    assert assess_gpu_sharing(reports, actors, nodes, WANTED) == []


def test_sharing_needs_the_node_to_declare_one_gpu() -> None:
    reports, actors, nodes = _sharing()
    nodes[0]["resources_total"]["GPU"] = 4.0
    assert any("declares 4 GPUs" in f for f in assess_gpu_sharing(reports, actors, nodes, WANTED))


def test_state_api_rows_are_read_from_the_list_answer() -> None:
    answer = {"result": True, "data": {"result": {"total": 1, "result": [{"actor_id": "a"}]}}}
    assert _state_list(answer) == [{"actor_id": "a"}]
    assert _state_list({"data": {}}) == []


# --- Serve autoscaling -----------------------------------------------------------------------


def test_autoscaling_passes_on_up_then_back_to_min() -> None:
    samples = [(0.0, 1), (10.0, 2), (20.0, 3), (50.0, 3), (70.0, 2), (85.0, 1)]
    assert assess_serve_autoscaling(samples, 55.0, 1, 3) == []


@pytest.mark.parametrize(
    ("samples", "named"),
    [
        ([(0.0, 1), (30.0, 1), (60.0, 1)], "no replica added under the ramp: at most 1"),
        ([(0.0, 1), (30.0, 4), (60.0, 1)], "4 RUNNING replicas, above max_replicas 3"),
        ([(0.0, 1), (30.0, 3), (60.0, 2)], "not back at min_replicas 1 after the load: 2"),
        ([(0.0, 1), (30.0, 3)], "after the load: no sample"),
        ([(60.0, 1)], "at most no sample"),
    ],
)
def test_autoscaling_reports_each_break(samples: list[tuple[float, int]], named: str) -> None:
    assert any(named in f for f in assess_serve_autoscaling(samples, 50.0, 1, 3))


def test_running_replicas_counts_running_only() -> None:
    serve = _serve()
    replicas = serve["applications"]["text-generation"]["deployments"]["TextGeneration"]
    replicas["replicas"].append({"state": "STARTING"})
    replicas["replicas"].append({"state": "RUNNING"})
    assert running_replicas(serve, "text-generation", "TextGeneration") == 2
    assert running_replicas(serve, "text-generation", "Other") is None
    assert running_replicas({}, "embedding", "Embedding") is None


def _sim_objects() -> list[Obj]:
    return render_unit(resolve_unit("ray-serve", "sim"))


def test_with_autoscaling_hands_replicas_to_serve_and_gives_the_worker_gpus() -> None:
    config = {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 2}
    objs = with_autoscaling("text-generation", "TextGeneration", config, worker_gpus=2)(
        _sim_objects()
    )
    rs = next(o for o in objs if o["kind"] == "RayService")
    apps = {a["name"]: a for a in yaml.safe_load(rs["spec"]["serveConfigV2"])["applications"]}
    text = apps["text-generation"]["deployments"][0]
    assert text["autoscaling_config"] == config and "num_replicas" not in text
    assert "autoscaling_config" not in apps["embedding"]["deployments"][0]
    worker = rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    assert worker["rayStartParams"]["num-gpus"] == worker["rayStartParams"]["num-cpus"] == "2"
    # three text-generation replicas and the two embedding ones fit the worker
    assert [f for f in assess_serve_config(rs) if "at their most" in f] == []
    res = worker["template"]["spec"]["containers"][0]["resources"]
    assert res["limits"]["nvidia.com/gpu"] == res["requests"]["nvidia.com/gpu"] == 2
    untouched = next(o for o in _sim_objects() if o["kind"] == "RayService")
    assert "autoscaling_config" not in untouched["spec"]["serveConfigV2"]


def test_versioned_config_sets_every_application_version() -> None:
    rs = next(o for o in _sim_objects() if o["kind"] == "RayService")
    text = versioned_config(rs["spec"]["serveConfigV2"], "v2")
    apps = yaml.safe_load(text)["applications"]
    assert {a["args"]["model_version"] for a in apps} == {"v2"}
    assert serve_apps({"spec": {"serveConfigV2": text}}) == WANTED


# --- serveConfigV2 against an in-place update and the declared workers -----------------------


def _sim_rayservice() -> Obj:
    return next(o for o in _sim_objects() if o["kind"] == "RayService")


def test_sim_overlay_keeps_a_replica_through_an_update_and_fits_its_worker() -> None:
    rs = _sim_rayservice()
    assert assess_serve_config(rs) == []
    config = yaml.safe_load(rs["spec"]["serveConfigV2"])
    gpus = [
        d["ray_actor_options"]["num_gpus"] * d["num_replicas"]
        for a in config["applications"]
        for d in a["deployments"]
    ]
    assert len(gpus) == 2 and sum(gpus) <= 1  # two models within the worker's one GPU


def _serve_edit(rs: Obj, edit: Callable[[Obj], None]) -> Obj:
    rs = copy.deepcopy(rs)
    config = yaml.safe_load(rs["spec"]["serveConfigV2"])
    edit(config)
    rs["spec"]["serveConfigV2"] = yaml.safe_dump(config)
    return rs


def _lone(config: Obj) -> None:
    config["applications"][1]["deployments"][0]["num_replicas"] = 1


def _lone_by_default(config: Obj) -> None:
    del config["applications"][0]["deployments"][0]["num_replicas"]


def _autoscaled_from_one(config: Obj) -> None:
    dep = config["applications"][0]["deployments"][0]
    del dep["num_replicas"]
    dep["autoscaling_config"] = {"min_replicas": 1, "max_replicas": 2}


def _auto(config: Obj) -> None:
    config["applications"][0]["deployments"][0]["num_replicas"] = "auto"


def _too_many_gpus(config: Obj) -> None:
    for a in config["applications"]:
        a["deployments"][0]["ray_actor_options"]["num_gpus"] = 0.6


def _default_cpus(config: Obj) -> None:
    del config["applications"][0]["deployments"][0]["ray_actor_options"]["num_cpus"]


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (_lone, "embedding/Embedding: 1 replica(s) at the fewest"),
        (_lone_by_default, "text-generation/TextGeneration: 1 replica(s)"),
        (_autoscaled_from_one, "text-generation/TextGeneration: 1 replica(s)"),
        (_auto, "text-generation/TextGeneration: 1 replica(s)"),
        (_too_many_gpus, "ask for 2.4 GPUs at their most, the worker groups declare 1"),
        (_default_cpus, "ask for 2.5 CPUs at their most, the worker groups declare 1"),
    ],
)
def test_serve_config_reports_each_break(edit: Callable[[Obj], None], named: str) -> None:
    failures = assess_serve_config(_serve_edit(_sim_rayservice(), edit))
    assert any(named in f for f in failures), failures


def test_gpu_overlay_keeps_two_replicas_of_each_model_ray_serve_llm_included() -> None:
    rs = next(o for o in render_unit(resolve_unit("ray-serve", "gpu")) if o["kind"] == "RayService")
    assert assess_serve_config(rs) == []
    config = yaml.safe_load(rs["spec"]["serveConfigV2"])
    llm = config["applications"][0]["args"]["llm_configs"][0]
    llm["deployment_config"]["autoscaling_config"]["min_replicas"] = 1
    rs["spec"]["serveConfigV2"] = yaml.safe_dump(config)
    assert assess_serve_config(rs) == [
        "text-generation/LLM llm: 1 replica(s) at the fewest: an update of serveConfigV2 stops "
        "it before its replacement runs, and nothing serves the model meanwhile"
    ]


def test_serve_config_counts_every_worker_pod_and_skips_undeclared_resources() -> None:
    rs = _serve_edit(_sim_rayservice(), _too_many_gpus)
    worker = rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    worker["maxReplicas"] = 3  # three one-GPU workers hold 2.4 GPUs
    assert assess_serve_config(rs) == []
    worker["maxReplicas"] = 1
    del worker["rayStartParams"]["num-gpus"]  # Ray detects the GPUs: not known here
    assert assess_serve_config(rs) == []
