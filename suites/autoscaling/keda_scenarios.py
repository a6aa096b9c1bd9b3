"""Setup and teardown of the two KEDA checks, shared with their meta-tests.

Each scenario deploys vllm-deployment with one reference KEDA component, holds its
ScaledObject back until the workload is ready, creates the test variant (keda_variant) in the
unit's namespace, waits for KEDA to make its HPA, and samples the workload (fixtures/scaling)
until the block ends. The meta-tests pass ``so_override`` to break the ScaledObject on purpose.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keda_env import (
    create_scaledobject,
    prometheus_addresses,
    redis_addresses,
    wait_hpa,
    with_queue_length,
)
from keda_variant import (
    Knobs,
    scaledobject_variant,
    split_scaledobject,
    with_env,
    with_scrape_annotations,
)

from servegate.harness.cluster import ClusterHandle, DeployUnit, service_url
from servegate.harness.deploy import Deployed
from servegate.harness.scaling import ScalingSampler, cluster_probe

HERE = Path(__file__).resolve().parent
REDIS_UNIT = str(HERE / "keda-redis")
PROMETHEUS_UNIT = "vllm-deployment"
WORKLOAD = "vllm"
RAMP_PROFILE = HERE / "keda-ramp.yaml"
# A short batch makes the simulator queue requests at a load two cores can drive.
SIM_ENV = {"SERVEGATE_SIM_MAX_NUM_SEQS": "2"}


@dataclass
class Scenario:
    dep: Deployed
    so: dict[str, Any]  # the ScaledObject as created
    sampler: ScalingSampler
    redis: Any = None  # redis.Redis on loopback (Redis scenario)
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

    def push(self, items: int) -> None:
        self.redis.rpush(self.list_name, *[f"request-{i}" for i in range(items)])

    def drain(self) -> None:
        self.redis.delete(self.list_name)


def _holding_back(held: dict[str, Any], extra: Any = None) -> Any:
    def mutate(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rest, held["so"] = split_scaledobject(objects)
        return extra(rest) if extra is not None else rest

    return mutate


@contextlib.contextmanager
def redis_scenario(
    handle: ClusterHandle,
    deploy_unit: DeployUnit,
    test_dir: Path,
    knobs: Knobs,
    so_override: dict[str, str] | None = None,
) -> Iterator[Scenario]:
    """The unit's pods go to simulated (kwok) GPU nodes: nothing reads the queue, so only
    KEDA's decisions and the pods' scheduling are under test, not the pods' work."""
    import redis

    keda_address, (host, port) = redis_addresses(handle)
    held: dict[str, Any] = {}
    with deploy_unit(REDIS_UNIT, mutate=_holding_back(held), runs_containers=False) as dep:
        list_name = f"inference_queue:{dep.namespace}"  # per run: the Redis is shared
        trigger = {"address": keda_address, "listName": list_name, **(so_override or {})}
        so = scaledobject_variant(held["so"], knobs, trigger)
        client = redis.Redis(host=host, port=port, socket_timeout=5.0)
        try:
            client.delete(list_name)
            create_scaledobject(handle, dep, so)
            wait_hpa(handle, dep.namespace, so["metadata"]["name"])
            probe = with_queue_length(
                cluster_probe(handle, dep.namespace, WORKLOAD), lambda: int(client.llen(list_name))
            )
            with ScalingSampler(probe, test_dir / "keda-redis.jsonl") as sampler:
                yield Scenario(dep, so, sampler, redis=client, list_name=list_name)
        finally:
            client.delete(list_name)
            client.close()


@contextlib.contextmanager
def prometheus_scenario(
    handle: ClusterHandle,
    deploy_unit: DeployUnit,
    test_dir: Path,
    knobs: Knobs,
    so_override: dict[str, str] | None = None,
) -> Iterator[Scenario]:
    """The pods run (the real node locally), are scraped, and their queue gauge is the
    trigger: the query of the component, scoped to this run's namespace."""
    keda_url, sample_url = prometheus_addresses(handle)
    held: dict[str, Any] = {}

    def prepare(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return with_env(with_scrape_annotations(objs), SIM_ENV)

    with deploy_unit(PROMETHEUS_UNIT, mutate=_holding_back(held, prepare), timeout_s=300) as dep:
        query = f'sum(vllm:num_requests_waiting{{namespace="{dep.namespace}"}})'
        trigger = {"serverAddress": keda_url, "query": query, **(so_override or {})}
        so = scaledobject_variant(held["so"], knobs, trigger)
        create_scaledobject(handle, dep, so)
        wait_hpa(handle, dep.namespace, so["metadata"]["name"])
        svc = dep.find("Service", WORKLOAD)["metadata"]["name"]
        probe = cluster_probe(handle, dep.namespace, WORKLOAD, prometheus_url=sample_url)
        with (
            service_url(handle, dep.namespace, svc) as url,
            ScalingSampler(probe, test_dir / "keda-prometheus.jsonl") as sampler,
        ):
            yield Scenario(dep, so, sampler, url=url, sample_url=sample_url)
