"""Assessments of Ray Serve running for real, as pure functions over what the APIs return.

- :func:`assess_serving`: KubeRay's RayService (condition Ready, serviceStatus Running) and
  Serve's own REST API (``/api/serve/applications/``): every application the manifest's
  serveConfigV2 declares RUNNING, each of its deployments HEALTHY with a RUNNING replica.
- :func:`assess_serve_autoscaling`: Serve's own autoscaler added replicas of a deployment
  under a ramp (more RUNNING than its minimum while the load ran, never more than its
  maximum) and removed them after (back at exactly the minimum).
- :func:`assess_gpu_sharing`: the two models share one GPU. Each replica reports what Ray
  gave it (``ray.get_gpu_ids()``, assigned resources, node, actor); Ray's State API lists the
  same actors ALIVE on the same node with the same GPU fraction, and that node is the worker
  that declares one GPU. Shared means: one node, one GPU id, fractions adding up to at most 1,
  over every replica of the models that the State API lists (not only those that reported).
- :func:`assess_serve_config`: what serveConfigV2 asks of Ray before anything runs: every
  deployment keeps two replicas or more (Serve's in-place update replaces a deployment's
  replicas one at a time, stopping the old one before starting its replacement, so a lone
  replica leaves its model without one meanwhile), and at their most the replicas' CPUs and
  GPUs fit in what the worker groups declare (``rayStartParams``).
"""

from __future__ import annotations

from typing import Any

import yaml

from servegate.checks.operators.checks import Obj, condition
from servegate.rayserve import PLACEMENT_PATH

__all__ = [
    "PLACEMENT_PATH",
    "assess_gpu_sharing",
    "assess_serve_autoscaling",
    "assess_serve_config",
    "assess_serving",
    "running_replicas",
    "serve_apps",
]


def serve_apps(rayservice: Obj) -> dict[str, list[str]]:
    """Application -> its deployments' names, from the RayService's serveConfigV2."""
    config = yaml.safe_load(rayservice["spec"].get("serveConfigV2") or "{}") or {}
    return {
        str(app["name"]): [str(d["name"]) for d in app.get("deployments") or []]
        for app in config.get("applications") or []
    }


def _rayservice_failures(rayservice: Obj) -> list[str]:
    failures = []
    status = rayservice.get("status") or {}
    ready = condition(rayservice, "Ready")
    if ready is None or ready.get("status") != "True":
        why = "no Ready condition" if ready is None else f"{ready.get('reason')}: "
        why += "" if ready is None else str(ready.get("message") or "")
        failures.append(f"RayService not Ready ({why.strip()})")
    if status.get("serviceStatus") != "Running":
        failures.append(f"RayService serviceStatus {status.get('serviceStatus')!r}, not 'Running'")
    return failures


def assess_serving(rayservice: Obj, serve: Obj, wanted: dict[str, list[str]]) -> list[str]:
    """RayService Running, and Serve's status of every wanted application and deployment."""
    failures = _rayservice_failures(rayservice)
    if not wanted:
        return [*failures, "the RayService's serveConfigV2 declares no application"]
    if "error" in serve:
        return [*failures, f"Serve's REST API: {serve['error']}"]
    apps: dict[str, Any] = serve.get("applications") or {}
    for app, deployments in wanted.items():
        got = apps.get(app)
        if got is None:
            failures.append(f"application {app!r} not in Serve's status (has {sorted(apps)})")
            continue
        if got.get("status") != "RUNNING":
            failures.append(f"application {app!r} is {got.get('status')}: {got.get('message')}")
        for name in deployments:
            dep = (got.get("deployments") or {}).get(name)
            if dep is None:
                failures.append(f"{app}/{name}: not in Serve's status")
                continue
            if dep.get("status") != "HEALTHY":
                failures.append(f"{app}/{name} is {dep.get('status')}: {dep.get('message')}")
            running = [r for r in dep.get("replicas") or [] if r.get("state") == "RUNNING"]
            if not running:
                failures.append(f"{app}/{name}: no RUNNING replica")
    return failures


def _gpu(resources: Obj | None) -> float:
    return float((resources or {}).get("GPU", 0.0))


def _replica_failures(report: Obj, actor: Obj | None) -> list[str]:
    who = f"{report.get('app')}/{report.get('deployment')}"
    failures = []
    gpus, fraction = report.get("gpu_ids") or [], _gpu(report.get("assigned_resources"))
    if len(gpus) != 1:
        failures.append(f"{who}: Ray assigned GPU ids {gpus}, not exactly one")
    if not 0 < fraction < 1:
        failures.append(f"{who}: assigned {fraction:g} GPU, not a fraction of one")
    if actor is None:
        failures.append(f"{who}: actor {report.get('actor_id')} not in Ray's State API")
        return failures
    if actor.get("state") != "ALIVE":
        failures.append(f"{who}: actor {actor.get('actor_id')} is {actor.get('state')}")
    if actor.get("node_id") != report.get("node_id"):
        failures.append(f"{who}: State API places it on another node than it reports")
    if _gpu(actor.get("required_resources")) != fraction:
        failures.append(
            f"{who}: State API requires {_gpu(actor.get('required_resources')):g} GPU, "
            f"the replica was assigned {fraction:g}"
        )
    return failures


def assess_gpu_sharing(
    reports: list[Obj], actors: list[Obj], nodes: list[Obj], wanted: dict[str, list[str]]
) -> list[str]:
    """Every wanted application's replica on the same Ray node and the same single GPU, the
    GPU fractions adding up to at most one GPU, and that node declaring exactly one GPU."""
    failures: list[str] = []
    by_app = {str(r.get("app")): r for r in reports}
    missing = sorted(set(wanted) - set(by_app))
    if missing:
        failures.append(f"no placement report from {missing}")
    if len(wanted) < 2:
        failures.append(f"{len(wanted)} application(s): sharing needs two models")
    actor_by_id = {str(a.get("actor_id")): a for a in actors}
    chosen = [by_app[a] for a in wanted if a in by_app]
    for report in chosen:
        failures += _replica_failures(report, actor_by_id.get(str(report.get("actor_id"))))
    node_ids = {str(r.get("node_id")) for r in chosen}
    gpu_sets = {tuple(sorted(r.get("gpu_ids") or [])) for r in chosen}
    if len(node_ids) > 1:
        failures.append(f"the models run on {len(node_ids)} Ray nodes, not one")
    if len(gpu_sets) > 1:
        failures.append(f"the models hold different GPUs: {sorted(gpu_sets)}")
    total = sum(_gpu(r.get("assigned_resources")) for r in chosen)
    if total > 1:
        failures.append(f"the models' GPU fractions add up to {total:g} > 1")
    failures += _all_replicas_failures(actors, wanted, node_ids)
    if len(node_ids) == 1:
        node_id = node_ids.pop()
        node = next((n for n in nodes if n.get("node_id") == node_id), None)
        if node is None:
            failures.append(f"Ray node {node_id} not in Ray's State API")
        elif _gpu(node.get("resources_total")) != 1:
            failures.append(
                f"the shared node declares {_gpu(node.get('resources_total')):g} GPUs, not one"
            )
    return failures


def _replica_app(actor: Obj) -> str | None:
    """The application of a Serve replica actor (class ``ServeReplica:<app>:<deployment>``)."""
    parts = str(actor.get("class_name") or "").split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "ServeReplica" else None


def _all_replicas_failures(
    actors: list[Obj], wanted: dict[str, list[str]], nodes: set[str]
) -> list[str]:
    """Every ALIVE replica of the wanted applications in Ray's State API, not only the one
    that answered: on the shared node, on a fraction of a GPU, all fractions within one GPU."""
    replicas = [a for a in actors if a.get("state") == "ALIVE" and _replica_app(a) in wanted]
    failures = []
    for actor in replicas:
        who = f"{_replica_app(actor)} replica {actor.get('actor_id')}"
        if len(nodes) == 1 and str(actor.get("node_id")) not in nodes:
            failures.append(f"{who}: on another Ray node than the reporting replicas (State API)")
        if not 0 < _gpu(actor.get("required_resources")) < 1:
            failures.append(
                f"{who}: requires {_gpu(actor.get('required_resources')):g} GPU, "
                "not a fraction of one (State API)"
            )
    total = sum(_gpu(a.get("required_resources")) for a in replicas)
    if total > 1:
        failures.append(
            f"the models' {len(replicas)} replicas require {total:g} GPUs in all, more than "
            "one GPU (State API)"
        )
    return failures


def _replica_bounds(deployment: Obj) -> tuple[int, int]:
    """The fewest and most replicas of a Serve deployment config (Serve's defaults: one)."""
    scaling = deployment.get("autoscaling_config")
    if isinstance(scaling, dict):
        low = int(scaling.get("min_replicas", 1))
        return low, max(low, int(scaling.get("max_replicas", 1)))
    count = deployment.get("num_replicas", 1)
    if count == "auto":  # Serve's default autoscaling: 1 to 100
        return 1, 100
    return int(count), int(count)


def _declared(rayservice: Obj) -> dict[str, float | None]:
    """Logical CPUs and GPUs the worker groups declare at their most pods (None: a group
    leaves it to Ray to detect, so it is not known here)."""
    groups = ((rayservice.get("spec") or {}).get("rayClusterConfig") or {}).get(
        "workerGroupSpecs"
    ) or []
    total: dict[str, float | None] = {"CPU": 0.0, "GPU": 0.0}
    for group in groups:
        pods = int(group.get("maxReplicas", group.get("replicas", 1)))
        params = group.get("rayStartParams") or {}
        for resource, key in (("CPU", "num-cpus"), ("GPU", "num-gpus")):
            had = total[resource]
            total[resource] = (
                None if had is None or key not in params else (had + float(params[key]) * pods)
            )
    return total


def _deployments(app: Obj) -> list[tuple[str, Obj, bool]]:
    """An application's deployments: (name, config, whether its resources are known here).
    Ray Serve LLM's builder takes each model's deployment config in ``args.llm_configs``; its
    resources follow from the engine's settings, which are not counted here."""
    out = [(str(d.get("name")), d, True) for d in app.get("deployments") or []]
    args = app.get("args")
    for llm in (args.get("llm_configs") or []) if isinstance(args, dict) else []:
        if isinstance(llm, dict) and isinstance(llm.get("deployment_config"), dict):
            model = (llm.get("model_loading_config") or {}).get("model_id")
            out.append((f"LLM {model}", llm["deployment_config"], False))
    return out


def assess_serve_config(rayservice: Obj) -> list[str]:
    """serveConfigV2 against an in-place update and the declared workers (see the module)."""
    config = yaml.safe_load((rayservice.get("spec") or {}).get("serveConfigV2") or "{}") or {}
    failures = []
    asked = {"CPU": 0.0, "GPU": 0.0}
    for app in config.get("applications") or []:
        for name, dep, counted in _deployments(app):
            who = f"{app.get('name')}/{name}"
            low, high = _replica_bounds(dep)
            if low < 2:
                failures.append(
                    f"{who}: {low} replica(s) at the fewest: an update of serveConfigV2 stops "
                    "it before its replacement runs, and nothing serves the model meanwhile"
                )
            if not counted:
                continue
            options = dep.get("ray_actor_options") or {}
            asked["CPU"] += float(options.get("num_cpus", 1)) * high
            asked["GPU"] += float(options.get("num_gpus", 0)) * high
    for resource, have in _declared(rayservice).items():
        if have is not None and asked[resource] > have:
            failures.append(
                f"the replicas ask for {asked[resource]:g} {resource}s at their most, the "
                f"worker groups declare {have:g}"
            )
    return failures


def running_replicas(serve: Obj, app: str, deployment: str) -> int | None:
    """RUNNING replicas of ``app``/``deployment`` in Serve's status (None: not listed)."""
    dep = (((serve.get("applications") or {}).get(app) or {}).get("deployments") or {}).get(
        deployment
    )
    if dep is None:
        return None
    return sum(1 for r in dep.get("replicas") or [] if r.get("state") == "RUNNING")


def assess_serve_autoscaling(
    samples: list[tuple[float, int]], load_end_s: float, min_replicas: int, max_replicas: int
) -> list[str]:
    """``samples``: (seconds, RUNNING replicas) read from Serve's status during and after a
    load that ended at ``load_end_s``."""
    during = [n for t, n in samples if t <= load_end_s]
    after = [n for t, n in samples if t > load_end_s]
    failures = []
    if not during or max(during) <= min_replicas:
        most = max(during) if during else "no sample"
        failures.append(f"no replica added under the ramp: at most {most} RUNNING")
    if samples and max(n for _, n in samples) > max_replicas:
        failures.append(
            f"{max(n for _, n in samples)} RUNNING replicas, above max_replicas {max_replicas}"
        )
    if not after or after[-1] != min_replicas:
        last = after[-1] if after else "no sample"
        failures.append(f"not back at min_replicas {min_replicas} after the load: {last} RUNNING")
    return failures
