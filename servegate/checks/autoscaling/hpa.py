"""The HPA checks' test variant of vllm-deployment, and the ramp they measure.

The variant: the reference HPA component pointed at the Deployment, its scale-down shortened
so a check finishes in minutes, the simulator made small enough that a short ramp builds a
queue (or burns CPU), and the pods annotated for the node's Prometheus. :class:`HpaCheck`
(the ``hpa`` fixture) deploys it, runs a load profile in a thread (:class:`LoadInBackground`)
while the sampler records, and judges scale-up and scale-down.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from servegate.checks.autoscaling.connections import (
    CHURN,
    KEEP_ALIVE,
    most_completions,
    per_pod_figures,
    ramp_profile,
    replicas_served_verdict,
)
from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.deploy import Deployed
from servegate.harness.load import LoadResult, RunProfile
from servegate.harness.scaling import SamplerFactory, ScalingSampler
from servegate.metrics.scaling import ScalingSample, first_time
from servegate.paths import manifests_root
from servegate.report.run_index import RunResults

Obj = dict[str, Any]
Mutate = Callable[[list[Obj]], list[Obj]]

UNIT = "vllm-deployment"
WORKLOAD = "vllm"
RAMP_PROFILE = "ramp-autoscale"
SIM_IMAGE = "servegate.local/sim"
LLMD_IMAGE = "servegate.local/llmd-sim"
#: The simulator knobs the HPA checks set, as llm-d-inference-sim's flags (``--sg-overlay
#: llmd``): sequences decoded at once, and the time between two tokens of a sequence (the
#: simulator's decode step, which with this few sequences is its per-token time).
LLMD_FLAGS: dict[str, Callable[[str], str]] = {
    "SERVEGATE_SIM_MAX_NUM_SEQS": lambda v: f"--max-num-seqs={int(v)}",
    "SERVEGATE_SIM_DECODE_BASE_S": lambda v: f"--inter-token-latency={float(v) * 1000:g}ms",
}

# Scale-down in the test variant: 15 s stabilisation and up to 4 pods per 15 s, instead of the
# reference 600 s / 1 pod per 300 s (a new vLLM replica costs minutes of model load; a
# simulator replica costs seconds, and CI cannot wait 10 minutes per check).
TEST_SCALE_DOWN = {
    "stabilizationWindowSeconds": 15,
    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}],
}


def component_hpa(component: str) -> Obj:
    """The HPA of manifests/components/autoscaling/<component>/hpa.yaml, as shipped."""
    path = manifests_root() / "components" / "autoscaling" / component / "hpa.yaml"
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or doc.get("kind") != "HorizontalPodAutoscaler":
        raise ValueError(f"{path}: not an HPA")
    return doc


def hpa_for(
    component: str,
    target: Obj,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
    metrics: list[Obj] | None = None,
    scale_down: Obj | None = TEST_SCALE_DOWN,
) -> Obj:
    """The component's HPA aimed at ``target`` (a workload object), with test overrides."""
    hpa = component_hpa(component)
    spec = hpa["spec"]
    spec["scaleTargetRef"] = {
        "apiVersion": target["apiVersion"],
        "kind": target["kind"],
        "name": target["metadata"]["name"],
    }
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    if max_replicas is not None:
        spec["maxReplicas"] = max_replicas
    if metrics is not None:
        spec["metrics"] = metrics
    if scale_down is not None:
        spec.setdefault("behavior", {})["scaleDown"] = copy.deepcopy(scale_down)
    return hpa


def cpu_metric(target_pct: int) -> list[Obj]:
    """An HPA's ``metrics``: average CPU utilisation at ``target_pct`` % of the request."""
    return [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": target_pct},
            },
        }
    ]


def variant(
    hpa: Callable[[Obj], Obj],
    sim_env: dict[str, str],
    cpu_request: str | None = None,
    drop_gpu: bool = False,
    workload: str = WORKLOAD,
) -> Mutate:
    """The ``mutate`` step of deploy_unit for an autoscaling check.

    - removes the overlay's KEDA ScaledObject (two autoscalers on one workload fight) and its
      NetworkPolicies (they admit only gateway pods; the host's load generator and
      Prometheus are not pods on the local cluster);
    - annotates the pods for Prometheus, unless a ServiceMonitor of the unit already selects
      their Service (the local cluster's Prometheus reads both: annotating a monitored pod
      would scrape it twice and double every sum over its series);
    - sets simulator knobs through SERVEGATE_SIM_* variables on the simulator image, and as
      the matching flags (:data:`LLMD_FLAGS`) on llm-d-inference-sim's;
    - ``cpu_request``: the container's CPU request, the base of a Utilization target;
    - ``drop_gpu``: no nvidia.com/gpu request (the local cluster's one real node has three
      simulated GPUs shared by every test running at the time; scaling does not need them).
    """

    def mutate(objects: list[Obj]) -> list[Obj]:
        out: list[Obj] = []
        target: Obj | None = None
        for o in objects:
            if o.get("kind") in ("ScaledObject", "NetworkPolicy", "HorizontalPodAutoscaler"):
                continue
            o = copy.deepcopy(o)
            if o.get("kind") in ("Deployment", "StatefulSet") and o["metadata"]["name"] == workload:
                tpl = o["spec"]["template"]
                annotate = not monitored(objects, tpl.get("metadata", {}).get("labels") or {})
                _patch_pod(tpl, sim_env, cpu_request, drop_gpu, annotate)
                target = o
            out.append(o)
        if target is None:
            raise ValueError(f"the unit has no Deployment/StatefulSet named {workload!r}")
        out.append(hpa(target))
        return out

    return mutate


def llmd_args(args: list[str], sim_env: dict[str, str]) -> list[str]:
    """llm-d-inference-sim's ``--name=value`` args with the knobs of ``sim_env`` in place of
    the overlay's values; a knob it has no flag for is a one-line error."""
    missing = sorted(set(sim_env) - set(LLMD_FLAGS))
    if missing:
        raise UserError(f"llm-d-inference-sim has no flag for {', '.join(missing)}")
    new = [LLMD_FLAGS[k](v) for k, v in sim_env.items()]
    names = {f.split("=", 1)[0] for f in new}
    return [a for a in args if a.split("=", 1)[0] not in names] + new


def _matches(selector: Obj | None, labels: dict[str, Any]) -> bool:
    want = (selector or {}).get("matchLabels") or {}
    return bool(want) and all(labels.get(k) == v for k, v in want.items())


def monitored(objects: list[Obj], pod_labels: dict[str, Any]) -> bool:
    """Whether a ServiceMonitor among ``objects`` (same namespace: no namespaceSelector)
    selects a Service among them whose selector picks pods labelled ``pod_labels``."""
    services = [o for o in objects if o.get("kind") == "Service"]
    for sm in objects:
        spec = sm.get("spec") or {}
        if sm.get("kind") != "ServiceMonitor" or spec.get("namespaceSelector"):
            continue
        for svc in services:
            picks = (svc.get("spec") or {}).get("selector") or {}
            if _matches(spec.get("selector"), svc["metadata"].get("labels") or {}) and (
                picks and all(pod_labels.get(k) == v for k, v in picks.items())
            ):
                return True
    return False


def _patch_pod(
    template: Obj, sim_env: dict[str, str], cpu: str | None, drop_gpu: bool, annotate: bool
) -> None:
    if annotate:
        template.setdefault("metadata", {}).setdefault("annotations", {}).update(
            {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "8000",
                "prometheus.io/path": "/metrics",
            }
        )
    for c in template["spec"]["containers"]:
        if str(c.get("image", "")).startswith(SIM_IMAGE):
            env = [e for e in c.get("env", []) if e.get("name") not in sim_env]
            c["env"] = env + [{"name": k, "value": v} for k, v in sim_env.items()]
        elif str(c.get("image", "")).startswith(LLMD_IMAGE):
            c["args"] = llmd_args(c.get("args") or [], sim_env)
        res = c.setdefault("resources", {})
        if cpu is not None:
            res.setdefault("requests", {})["cpu"] = cpu
        if drop_gpu:
            for part in ("requests", "limits"):
                (res.get(part) or {}).pop("nvidia.com/gpu", None)


def load_end_wall(result: LoadResult) -> float | None:
    """Unix time the load run ended (its run.json), or None if it is unreadable.

    The run_profile call returns seconds later (reports are written first): marking "load
    stop" then would flatter the scale-down time."""
    try:
        doc = json.loads((Path(result.run_dir) / "run.json").read_text())
        return float(doc["end_ns"]) / 1e9
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def decided_after(samples: list[ScalingSample], since: float, at_least: int = 2) -> float:
    """Seconds from ``since`` until the autoscaler first asked for ``at_least`` replicas
    (the HPA's reaction, before any pod starts); -1 if it never did."""
    t = first_time(samples, at_least, None, since, "desired")
    return -1.0 if t is None else t - since


class LoadInBackground:
    """Runs ``run(*args, **kwargs)`` (the run_profile fixture) in a thread.

    ``join()`` waits and re-raises whatever the run raised (a pytest failure included), so a
    test always waits for its load to end before the namespace is torn down."""

    def __init__(self, run: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._main, args=(run, args, kwargs), name="load", daemon=True
        )

    def _main(self, run: Callable[..., Any], args: Any, kwargs: Any) -> None:
        try:
            self.result = run(*args, **kwargs)
        except BaseException as exc:  # pytest's Failed is a BaseException
            self.error = exc

    def start(self) -> LoadInBackground:
        self._thread.start()
        return self

    def join(self, timeout_s: float | None = None) -> Any:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise UserError("the load run did not end")
        if self.error is not None:
            raise self.error
        return self.result

    def alive(self) -> bool:
        return self._thread.is_alive()


@dataclass(frozen=True)
class Served:
    """The variant as deployed, its Service's base URL and the sampler recording it."""

    dep: Deployed
    url: str
    sampler: ScalingSampler


@dataclass(frozen=True)
class Ramp:
    """What one measured ramp left: the load run, the series, the figures (seconds), the
    load's start and stop on the series' time axis and the most requests the pods can have
    completed (:func:`~servegate.checks.autoscaling.connections.most_completions`)."""

    load: LoadResult
    samples: list[ScalingSample]
    figures: dict[str, float]
    start: float
    stop: float
    most: int

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.0f}" for k, v in self.figures.items())


@dataclass(frozen=True)
class HpaCheck:
    """What an HPA check runs against (the plugin's fixtures, as one) and its steps."""

    cluster: ClusterHandle
    deploy_unit: DeployUnit
    run_profile: RunProfile
    scaling_sampler: SamplerFactory
    results: RunResults
    overlay: str = "sim"

    def variant(
        self,
        component: str,
        sim_env: dict[str, str],
        *,
        cpu_request: str | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        metrics: list[Obj] | None = None,
    ) -> Mutate:
        """The test variant with ``component``'s HPA (overrides as in :func:`hpa_for`); on
        the local cluster the pods do not request a GPU. On the llmd overlay a check whose
        simulator knobs llm-d-inference-sim has no flag for is skipped, saying which."""
        missing = sorted(set(sim_env) - set(LLMD_FLAGS))
        if self.overlay == "llmd" and missing:
            pytest.skip(
                f"not on the llmd overlay: this check sets {', '.join(missing)}, a simulator"
                " knob llm-d-inference-sim has no flag for"
            )
        return variant(
            lambda target: hpa_for(component, target, min_replicas, max_replicas, metrics),
            sim_env,
            cpu_request=cpu_request,
            drop_gpu=self.cluster.kind == "local",
        )

    @contextlib.contextmanager
    def served(self, mutate: Mutate, name: str) -> Iterator[Served]:
        """vllm-deployment deployed with ``mutate``, its Service reachable and the workload
        sampled into ``<test dir>/<name>.jsonl`` until the block ends; then torn down."""
        with self.deploy_unit(UNIT, mutate=mutate, timeout_s=300) as dep:
            hpa = dep.find("HorizontalPodAutoscaler")["metadata"]["name"]
            svc = dep.find("Service")["metadata"]["name"]
            with (
                service_url(self.cluster, dep.namespace, svc) as url,
                self.scaling_sampler(dep.namespace, WORKLOAD, hpa=hpa, name=name) as sampler,
            ):
                yield Served(dep, url, sampler)

    def load(self, profile: str | Path, url: str) -> LoadInBackground:
        """``profile`` against ``url`` (the model it serves), in a thread not yet started."""
        return LoadInBackground(self.run_profile, profile, url, model="auto")

    def ramp(
        self,
        mutate: Mutate,
        name: str,
        title: str,
        up_deadline_s: float,
        down_deadline_s: float,
        connections: str = CHURN,
    ) -> Ramp:
        """Deploy vllm-deployment with ``mutate``, drive the ramp-autoscale profile while
        sampling, and assess: >= 2 replicas within ``up_deadline_s`` of the load start, back
        to 1 within ``down_deadline_s`` of its end. The series is reported as the session
        section ``autoscaling-<name>`` whatever happened, with each pod's requests and Ready
        seconds. ``connections``: the profile as shipped (``churn``) or its ``keep-alive``
        copy (the section's name and title then say so)."""
        if connections == KEEP_ALIVE:
            name, title = f"{name}-{KEEP_ALIVE}", f"{title}, keep-alive connections"
        profile = ramp_profile(RAMP_PROFILE, connections, self.results.root)
        figures: dict[str, float] = {}
        with self.served(mutate, name) as sv:
            s = sv.sampler
            figures["first_replica_ready_s"] = sv.dep.ready_after_s or 0.0  # one pod's start
            start = stop = 0.0
            sent: int | None = None  # requests the load generator recorded
            most: int | None = None  # ... and the most the pods can have completed
            try:
                load = self.load(profile, sv.url)
                start = s.mark("load start")
                load.start()
                try:
                    figures["up_s"] = s.wait_reached(2, up_deadline_s, since=start)
                    figures["decided_s"] = decided_after(s.samples, start)
                finally:
                    res = load.join(600)
                sent = res.summary.counts.total
                most = most_completions(sent, profile)
                stop = s.mark("load stop", load_end_wall(res))
                figures["down_s"] = s.wait_settled(1, down_deadline_s, since=stop)
            finally:
                end = stop or s.now()
                extra: dict[str, Any] = {
                    **figures,
                    "connections": connections,
                    **per_pod_figures(s.snapshot(), start, end, sent),
                    "replicas_served": replicas_served_verdict(s.snapshot(), start, end, most),
                }
                s.report(self.results, f"autoscaling-{name}", title, extra=extra)
        assert most is not None  # the load ran: the block above raised otherwise
        return Ramp(res, s.samples, figures, start, stop, most)
