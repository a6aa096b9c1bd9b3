"""The HPA checks' test variant of vllm-deployment, and the ramp they measure.

The variant: the reference HPA component pointed at the Deployment, its scale-down shortened
so a check finishes in minutes, the simulator made small enough that a short ramp builds a
queue (or burns CPU), and the pods annotated for the node's Prometheus. :class:`HpaCheck`
(the ``hpa`` fixture) deploys it, runs a load profile in a thread (:class:`LoadInBackground`)
while the sampler records, and judges scale-up and scale-down.

Per overlay: on ``llmd`` the simulator knobs become llm-d-inference-sim's flags
(:data:`LLMD_FLAGS`); on ``engine`` (llama.cpp's llama-server) the sequence limit becomes its
slots (``--parallel``), its decode time is its real compute (no knob), and the queue-depth
HPA scales on its own queue, ``llamacpp_requests_deferred``. What a variant cannot be on an
overlay, :func:`not_served` says; the fixture turns that into a skip.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from servegate.checks.autoscaling.connections import (
    CHURN,
    KEEP_ALIVE,
    most_served,
    per_pod_figures,
    ramp_profile,
    replicas_served_verdict,
)
from servegate.checks.autoscaling.overlays import (
    KEEP_ALIVE_NOT_ON_ENGINE,
    QUEUE_METRICS,
    VLLM_QUEUE_METRIC,
    engine_args,
    llmd_args,
    not_served,
    queue_metric_for,
)
from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.deploy import Deployed
from servegate.harness.load import LoadResult, RunProfile
from servegate.harness.scaling import SamplerFactory, ScalingSampler
from servegate.metrics.scaling import ScalingSample, check_reached, first_time, served_unit
from servegate.paths import manifests_root
from servegate.report.run_index import RunResults

Obj = dict[str, Any]
Mutate = Callable[[list[Obj]], list[Obj]]

UNIT = "vllm-deployment"
WORKLOAD = "vllm"
RAMP_PROFILE = "ramp-autoscale"
ENGINE_RAMP_PROFILE = "ramp-autoscale-engine"
"""ramp-autoscale with a new connection per request: llama-server closes every streamed
response's connection (docs/engine.md), so the shipped one-close-every-2-requests would race."""
SIM_IMAGE = "servegate.local/sim"
LLMD_IMAGE = "servegate.local/llmd-sim"
ENGINE_IMAGE = "servegate.local/engine"
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
      the matching flags on llm-d-inference-sim's (:data:`LLMD_FLAGS`) and llama-server's
      (:data:`ENGINE_FLAGS`);
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
        elif str(c.get("image", "")).startswith(ENGINE_IMAGE):
            c["args"] = engine_args(c.get("args") or [], sim_env)
        res = c.setdefault("resources", {})
        if cpu is not None:
            res.setdefault("requests", {})["cpu"] = cpu
        if drop_gpu:
            for part in ("requests", "limits"):
                (res.get(part) or {}).pop("nvidia.com/gpu", None)


def _run_wall(result: LoadResult, key: str) -> float | None:
    try:
        doc = json.loads((Path(result.run_dir) / "run.json").read_text())
        return float(doc[key]) / 1e9
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load_end_wall(result: LoadResult) -> float | None:
    """Unix time the load run ended (its run.json), or None if it is unreadable.

    The run_profile call returns seconds later (reports are written first): marking "load
    stop" then would flatter the scale-down time."""
    return _run_wall(result, "end_ns")


def load_start_wall(result: LoadResult) -> float | None:
    """Unix time the load run began sending (its run.json), or None if it is unreadable."""
    return _run_wall(result, "start_ns")


LOAD_SETUP_S = 420.0
"""The longest a load run may take from its start to its first request seen at the pods. On
this host, about a second; from Locust pods in the cluster (where this host cannot route to
Services), the pods start and each worker is calibrated first: about 110 s in foreign mode on
the local cluster. The autoscaler's deadlines count from the first request, not from then."""


def first_load_seen(samples: list[ScalingSample], since: float) -> ScalingSample | None:
    """The first sample at or after ``since`` in which the pods show load (requests queued or
    work served), or None."""
    for x in samples:
        if x.t >= since and ((x.queue_depth or 0) > 0 or sum(x.served_by_pod.values()) > 0):
            return x
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
    load's start and stop on the series' time axis and the most work the pods can have
    completed, in the unit they count: requests, or output tokens on llama-server
    (:func:`~servegate.checks.autoscaling.connections.most_served`)."""

    load: LoadResult
    samples: list[ScalingSample]
    figures: dict[str, float]
    start: float
    stop: float
    most: int

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.0f}" for k, v in self.figures.items())


def _refuse(reason: str) -> None:
    raise UserError(reason)


@dataclass(frozen=True)
class HpaCheck:
    """What an HPA check runs against (the plugin's fixtures, as one) and its steps."""

    cluster: ClusterHandle
    deploy_unit: DeployUnit
    run_profile: RunProfile
    scaling_sampler: SamplerFactory
    results: RunResults
    overlay: str = "sim"
    #: Called with the reason when a variant cannot run on the overlay (:func:`not_served`):
    #: the ``hpa`` fixture passes ``pytest.skip``; the default fails with the reason.
    not_applicable: Callable[[str], None] = field(default=_refuse)

    @property
    def queue_metric(self) -> str:
        """The per-pod queue metric the queue-depth HPA scales on for this overlay."""
        return QUEUE_METRICS.get(self.overlay, VLLM_QUEUE_METRIC)

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
        """The test variant with ``component``'s HPA (overrides as in :func:`hpa_for`, the
        queue metric the overlay's server's: :func:`queue_metric_for`); on the local cluster
        the pods do not request a GPU. A variant the overlay cannot serve (:func:`not_served`)
        goes to :attr:`not_applicable` with the reason."""
        reason = not_served(self.overlay, component, sim_env)
        if reason is not None:
            self.not_applicable(reason)
            raise UserError(reason)  # not_applicable did not stop the check
        overlay = self.overlay
        return variant(
            lambda target: queue_metric_for(
                overlay, hpa_for(component, target, min_replicas, max_replicas, metrics)
            ),
            sim_env,
            cpu_request=cpu_request,
            drop_gpu=self.cluster.kind == "local",
        )

    @staticmethod
    def _load_began(s: ScalingSampler, load: LoadInBackground) -> float:
        """Wait for the first sign of the load at the pods and mark it "load start"."""
        t0 = s.now()
        while True:
            seen = first_load_seen(s.snapshot(), t0)
            if seen is not None:
                return s.mark("load start", seen.wall)
            if not load.alive():  # ended before any sign: join() says why
                return s.mark("load start")
            if s.now() - t0 > LOAD_SETUP_S:
                raise UserError(
                    f"no request of the load reached the pods within {LOAD_SETUP_S:.0f}s of"
                    " its start (see the load run's log)"
                )
            time.sleep(0.5)

    @staticmethod
    def _judged_from_recorded_start(
        s: ScalingSampler, res: LoadResult, start: float, up_deadline_s: float
    ) -> float:
        """The run's recorded start (earlier than the first sign at the pods) as "load
        start", and the scale-up judged again from it."""
        began = load_start_wall(res)
        if began is None:
            return start
        recorded = s.mark("load start", began)
        if recorded < start:
            reason = check_reached(s.snapshot(), 2, up_deadline_s, recorded)
            if reason is not None:
                raise UserError(f"from the load's recorded start: {reason}")
            return recorded
        s.marks["load start"] = start  # a pod's clock behind this host's: keep the first sign
        return start

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
            if self.overlay == "engine":
                self.not_applicable(KEEP_ALIVE_NOT_ON_ENGINE)
                raise UserError(KEEP_ALIVE_NOT_ON_ENGINE)
            name, title = f"{name}-{KEEP_ALIVE}", f"{title}, keep-alive connections"
        base = ENGINE_RAMP_PROFILE if self.overlay == "engine" else RAMP_PROFILE
        profile = ramp_profile(base, connections, self.results.root)
        figures: dict[str, float] = {}
        with self.served(mutate, name) as sv:
            s = sv.sampler
            figures["first_replica_ready_s"] = sv.dep.ready_after_s or 0.0  # one pod's start
            start = stop = 0.0
            sent: int | None = None  # requests the load generator recorded
            most: int | None = None  # ... and the most the pods can have completed
            try:
                load = self.load(profile, sv.url).start()
                try:
                    # Deadlines count from the first request, not from the load's set-up
                    # (in-cluster Locust pods start and calibrate first): provisionally from
                    # the first sample that shows load, then from the run's recorded start.
                    start = self._load_began(s, load)
                    s.wait_reached(2, up_deadline_s, since=start)
                finally:
                    res = load.join(600)
                start = self._judged_from_recorded_start(s, res, start, up_deadline_s)
                figures["up_s"] = s.took_to_reach(2, since=start)
                figures["decided_s"] = decided_after(s.samples, start)
                sent = res.summary.counts.total
                most = most_served(sent, profile, served_unit(s.snapshot()))
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
