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
  that declares one GPU. Shared means: one node, one GPU id, fractions adding up to at most 1.
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
