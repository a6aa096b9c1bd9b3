"""Setup and teardown of the two KEDA checks, shared with their meta-tests.

Each scenario deploys vllm-deployment with one reference KEDA component, holds its
ScaledObject back until the workload is ready, creates the test variant (``scaledobject``) in
the unit's namespace, waits for KEDA to make its HPA, and samples the workload
(servegate.harness.scaling) until the block ends. The meta-tests pass ``so_override`` to break
the ScaledObject on purpose. A :class:`Scenario` judges the autoscaler's decisions (desired
replicas) and, on failure, says what the autoscaler reported about itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from servegate.checks.autoscaling.keda import (
    create_scaledobject,
    explained,
    fail_explained,
    prometheus_addresses,
    redis_addresses,
    wait_hpa,
    with_queue_length,
)
from servegate.checks.autoscaling.scaledobject import (
    Knobs,
    scaledobject_variant,
    shipped_query,
    split_scaledobject,
    with_env,
)
from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.deploy import Deployed
from servegate.harness.scaling import ScalingSampler, cluster_probe
from servegate.metrics.scaling import check_reached, first_time
from servegate.paths import manifests_root
from servegate.report.run_index import RunResults

if TYPE_CHECKING:
    from redis import Redis

Obj = dict[str, Any]
Mutate = Callable[[list[Obj]], list[Obj]]

PROMETHEUS_UNIT = "vllm-deployment"
WORKLOAD = "vllm"
RAMP_PROFILE = "keda-ramp"  # loadprofiles/keda-ramp.yaml
# A short batch makes the simulator queue requests at a load two cores can drive.
SIM_ENV = {"SERVEGATE_SIM_MAX_NUM_SEQS": "2"}


def redis_unit() -> Path:
    """manifests/checks/keda-redis: vllm-deployment with keda-redis in place of
    keda-prometheus (its overlays are the run's sim and gpu)."""
    return manifests_root() / "checks" / "keda-redis"


@dataclass
class Scenario:
    handle: ClusterHandle
    dep: Deployed
    so: Obj  # the ScaledObject as created
    sampler: ScalingSampler
    redis: Redis | None = None  # on loopback (Redis scenario)
    list_name: str = ""  # the list this side pushes to
    url: str = ""  # the model server's base URL (Prometheus scenario)
    sample_url: str | None = None  # the Prometheus this process queries, if any

    @property
    def namespace(self) -> str:
        return self.dep.namespace

    @property
    def so_name(self) -> str:
        return str(self.so["metadata"]["name"])

    def trigger(self) -> dict[str, str]:
        return dict(self.so["spec"]["triggers"][0]["metadata"])

    def _redis(self) -> Redis:
        if self.redis is None:
            raise ValueError("not a Redis scenario")
        return self.redis

    def push(self, items: int) -> None:
        self._redis().rpush(self.list_name, *[f"request-{i}" for i in range(items)])

    def drain(self) -> None:
        self._redis().delete(self.list_name)

    # --- judging the autoscaler ------------------------------------------------------------

    def fail(self, reason: str) -> NoReturn:
        """Fail with ``reason`` and what the autoscaler says about itself."""
        fail_explained(self.handle, self.namespace, self.so_name, reason)

    def explained(self, step: Callable[[], float]) -> float:
        """Run an assertion step; on failure, add what the autoscaler said to the message."""
        return explained(self.handle, self.namespace, self.so_name, step)

    def wait_reached(self, at_least: int, within_s: float, since: float) -> float:
        """Block until the autoscaler asks for >= ``at_least`` replicas, at most ``within_s``
        after ``since``; returns how long it took."""
        s = self.sampler
        return self.explained(lambda: s.wait_reached(at_least, within_s, since, "desired"))

    def wait_settled(self, minimum: int, within_s: float, since: float) -> float:
        """Block until ready replicas are back at exactly ``minimum`` (the autoscaler scaled
        down and the remaining pods serve), at most ``within_s`` after ``since``; returns how
        long it took."""
        s = self.sampler
        return self.explained(lambda: s.wait_settled(minimum, within_s, since, "ready"))

    def reached(self, at_least: int, within_s: float, since: float) -> float:
        """Judge the series recorded so far, without waiting (the load outlasted the
        deadline): the autoscaler asked for >= ``at_least`` replicas within ``within_s`` of
        ``since``. Returns how long it took."""
        series = self.sampler.snapshot()
        reason = check_reached(series, at_least, within_s, since, "desired")
        if reason is not None:
            self.fail(reason)
        first = first_time(series, at_least, None, since, "desired")
        return (first or since) - since

    @contextlib.contextmanager
    def reported(
        self, results: RunResults, name: str, title: str, data: Callable[[], dict[str, Any]]
    ) -> Iterator[None]:
        """When the block ends, whatever happened, the series goes into the session report
        as section ``name``, with ``data()`` (asked for then) beside it."""
        try:
            yield
        finally:
            self.sampler.report(results, name, title, extra=data())


def _holding_back(held: dict[str, Obj], then: Mutate | None = None) -> Mutate:
    """The ``mutate`` step that takes the ScaledObject out of the unit into ``held["so"]``."""

    def mutate(objects: list[Obj]) -> list[Obj]:
        rest, held["so"] = split_scaledobject(objects)
        return then(rest) if then is not None else rest

    return mutate


def _prepare_prometheus(objects: list[Obj]) -> list[Obj]:
    return with_env(objects, SIM_ENV)


@dataclass(frozen=True)
class KedaScenarios:
    """The KEDA checks' setups (the ``keda`` fixture), on one test's cluster, deploy_unit
    and results directory."""

    handle: ClusterHandle
    deploy_unit: DeployUnit
    test_dir: Path

    def _autoscale(
        self,
        dep: Deployed,
        held: dict[str, Obj],
        knobs: Knobs,
        trigger: dict[str, str],
        so_override: dict[str, str] | None,
    ) -> Obj:
        """Create the test variant of the held-back ScaledObject, ``trigger`` (then
        ``so_override``) merged into its trigger's metadata; return it once KEDA made its HPA."""
        so = scaledobject_variant(held["so"], knobs, {**trigger, **(so_override or {})})
        create_scaledobject(self.handle, dep, so)
        wait_hpa(self.handle, dep.namespace, so["metadata"]["name"])
        return so

    @contextlib.contextmanager
    def redis(self, knobs: Knobs, so_override: dict[str, str] | None = None) -> Iterator[Scenario]:
        """The unit's pods go to simulated (kwok) GPU nodes: nothing reads the queue, so only
        KEDA's decisions and the pods' scheduling are under test, not the pods' work."""
        import redis

        keda_address, (host, port) = redis_addresses(self.handle)
        held: dict[str, Obj] = {}
        unit = str(redis_unit())
        with self.deploy_unit(unit, mutate=_holding_back(held), runs_containers=False) as dep:
            list_name = f"inference_queue:{dep.namespace}"  # per run: the Redis is shared
            client = redis.Redis(host=host, port=port, socket_timeout=5.0)
            try:
                client.delete(list_name)
                trigger = {"address": keda_address, "listName": list_name}
                so = self._autoscale(dep, held, knobs, trigger, so_override)
                probe = with_queue_length(
                    cluster_probe(self.handle, dep.namespace, WORKLOAD),
                    lambda: int(client.llen(list_name)),
                )
                with ScalingSampler(probe, self.test_dir / "keda-redis.jsonl") as sampler:
                    yield Scenario(self.handle, dep, so, sampler, client, list_name)
            finally:
                client.delete(list_name)
                client.close()

    @contextlib.contextmanager
    def prometheus(
        self, knobs: Knobs, so_override: dict[str, str] | None = None
    ) -> Iterator[Scenario]:
        """The pods run (the real node locally), are scraped through the unit's own
        ServiceMonitor (prometheus-operator on a cluster that has it; the local cluster's
        podsd reads ServiceMonitors the same way), and the trigger is the component's own
        query as shipped, confined to this run's namespace."""
        keda_url, sample_url = prometheus_addresses(self.handle)
        held: dict[str, Obj] = {}
        mutate = _holding_back(held, _prepare_prometheus)
        with self.deploy_unit(PROMETHEUS_UNIT, mutate=mutate, timeout_s=300) as dep:
            trigger = {"serverAddress": keda_url, "query": shipped_query(held["so"], dep.namespace)}
            so = self._autoscale(dep, held, knobs, trigger, so_override)
            svc = dep.find("Service", WORKLOAD)["metadata"]["name"]
            probe = cluster_probe(self.handle, dep.namespace, WORKLOAD, prometheus_url=sample_url)
            with (
                service_url(self.handle, dep.namespace, svc) as url,
                ScalingSampler(probe, self.test_dir / "keda-prometheus.jsonl") as sampler,
            ):
                yield Scenario(self.handle, dep, so, sampler, url=url, sample_url=sample_url)
