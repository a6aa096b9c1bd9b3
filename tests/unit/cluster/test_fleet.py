"""Fleet files: the shipped ones validate; mistakes are located errors, never silent."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from servegate.cluster import network
from servegate.config.base import load_yaml_text
from servegate.config.fleet import KWOK_POD_RANGE, MAX_NODES, Fleet, load_fleet, pod_cidrs
from servegate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def _fleet(pools: str) -> str:
    return f"name: t\npools:\n{pools}"


A100 = """\
  - name: a
    count: 2
    gpu:
      product: NVIDIA-A100-SXM4-80GB
      count: 8
      memory_mib: 81920
"""


def test_default_fleet_has_the_pools_the_suites_rely_on() -> None:
    fleet = load_fleet(ROOT / "fleets" / "default.yaml")
    products = {p.gpu.product for p in fleet.pools if p.gpu}
    assert {"NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3"} <= products
    spot = [p for p in fleet.pools if p.labels.get("kubernetes.io/lifecycle") == "spot"]
    assert spot and all(
        any(t.key == "spot" and t.value == "true" and t.effect == "NoSchedule" for t in p.taints)
        for p in spot
    )


def test_scale_fleet_is_1000_nodes_and_8000_gpus() -> None:
    fleet = load_fleet(ROOT / "fleets" / "scale-1000.yaml")
    assert fleet.node_count == 1000
    assert fleet.gpu_count() == 8000


def test_unknown_key_names_file_line_and_field() -> None:
    text = _fleet(A100.replace("    count: 2\n", "    count: 2\n    cout: 3\n"))
    with pytest.raises(ConfigError) as err:
        load_yaml_text(text, Fleet, source="f.yaml")
    assert "f.yaml:5: pools.0.cout: unknown field" in str(err.value)


@pytest.mark.parametrize(
    ("pools", "needle"),
    [
        (A100 + A100, "pool names must be unique: a"),
        (A100.replace("count: 8", "count: 0"), "greater than or equal to 1"),
        (A100 + "    labels: {'bad key!': x}\n", "not a valid label key"),
        (A100 + "    taints: [{key: spot, effect: NoRun}]\n", "NoSchedule"),
        (
            A100.replace(
                "memory_mib: 81920",
                "memory_mib: 81920\n      time_slicing_replicas: 4\n"
                "      mig: {profiles: {1g.10gb: 7}}",
            ),
            "cannot both be set",
        ),
        (
            A100.replace("memory_mib: 81920", "memory_mib: 1\n      mig: {profiles: {big: 7}}"),
            "not a MIG profile",
        ),
        (A100.replace("count: 2", f"count: {MAX_NODES + 1}"), "less than or equal"),
    ],
)
def test_invalid_fleets_are_rejected(pools: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml_text(_fleet(pools), Fleet, source="f.yaml")
    assert needle in str(err.value)


def test_gpu_resources_and_labels_follow_the_sharing_mode() -> None:
    plain = load_yaml_text(_fleet(A100), Fleet).pools[0].gpu
    assert plain is not None
    assert plain.resources() == {"nvidia.com/gpu": 8}
    assert plain.labels()["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert plain.labels()["nvidia.com/gpu.present"] == "true"
    assert plain.labels()["nvidia.com/gpu.count"] == "8"
    assert plain.labels()["nvidia.com/gpu.memory"] == "81920"

    shared_text = A100.replace(
        "memory_mib: 81920", "memory_mib: 81920\n      time_slicing_replicas: 4"
    )
    shared = load_yaml_text(_fleet(shared_text), Fleet).pools[0].gpu
    assert shared is not None
    assert shared.resources() == {"nvidia.com/gpu": 32}
    assert shared.labels()["nvidia.com/gpu.product"].endswith("-SHARED")
    assert shared.labels()["nvidia.com/gpu.replicas"] == "4"

    mig_text = A100.replace(
        "memory_mib: 81920", "memory_mib: 81920\n      mig: {profiles: {1g.10gb: 7, 2g.20gb: 1}}"
    )
    mig = load_yaml_text(_fleet(mig_text), Fleet).pools[0].gpu
    assert mig is not None
    assert mig.resources() == {"nvidia.com/mig-1g.10gb": 56, "nvidia.com/mig-2g.20gb": 8}
    assert mig.labels()["nvidia.com/mig.strategy"] == "mixed"

    single_text = A100.replace(
        "memory_mib: 81920",
        "memory_mib: 81920\n      mig: {strategy: single, profiles: {3g.40gb: 2}}",
    )
    single = load_yaml_text(_fleet(single_text), Fleet).pools[0].gpu
    assert single is not None
    assert single.resources() == {"nvidia.com/gpu": 16}
    assert single.labels()["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB-MIG-3g.40gb"


def test_pod_cidrs_are_distinct_and_clear_of_the_other_ranges() -> None:
    fleet = load_fleet(ROOT / "fleets" / "scale-1000.yaml")
    cidrs = [ipaddress.ip_network(c) for c in pod_cidrs(fleet)]
    assert len(set(cidrs)) == fleet.node_count
    kwok_range = ipaddress.ip_network(KWOK_POD_RANGE)
    cluster = ipaddress.ip_network(network.CLUSTER_CIDR)
    real = ipaddress.ip_network(network.REAL_NODE_POD_CIDR)
    services = ipaddress.ip_network(network.SERVICE_CIDR)
    for c in cidrs:
        assert c.subnet_of(kwok_range) and c.subnet_of(cluster)  # type: ignore[arg-type]
        assert not c.overlaps(real) and not c.overlaps(services)
