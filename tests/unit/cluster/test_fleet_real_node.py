"""The fleet's ``real_node``: the real node's simulated GPUs, default when the fleet is silent."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from servegate.cluster import network
from servegate.cluster.node.layout import GpuSpec
from servegate.cluster.node.runtime import spec_for
from servegate.cluster.nodehook import NodeContext
from servegate.config.base import load_yaml_text
from servegate.config.fleet import Fleet, load_fleet
from servegate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]

FLEET = """\
name: t
pools:
  - name: a
    count: 1
real_node:
  gpu:
    product: NVIDIA-H100-80GB-HBM3
    count: 8
    memory_mib: 81559
"""


def _ctx(tmp_path: Path, fleet: Fleet | None) -> NodeContext:
    """What :func:`spec_for` reads of a NodeContext: the fleet and the node's networks."""
    fields = {
        "service_cidr": network.SERVICE_CIDR,
        "pod_cidr": network.REAL_NODE_POD_CIDR,
        "cluster_dns": network.CLUSTER_DNS,
        "cluster_domain": network.CLUSTER_DOMAIN,
        "fleet": fleet,
    }
    return cast(NodeContext, SimpleNamespace(**fields))


def test_real_node_parses_and_mig_slices_default_to_7() -> None:
    fleet = load_yaml_text(FLEET, Fleet)
    assert fleet.real_node is not None
    gpu = fleet.real_node.gpu
    assert (gpu.product, gpu.count, gpu.memory_mib, gpu.mig_1g_5gb) == (
        "NVIDIA-H100-80GB-HBM3",
        8,
        81559,
        7,
    )
    assert load_yaml_text(FLEET.split("real_node:")[0], Fleet).real_node is None


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("count: 8", "count: 17", "f.yaml:8: real_node.gpu.count: Input should be less than"),
        ("count: 8", "count: 0", "f.yaml:8: real_node.gpu.count: Input should be greater than"),
        ("memory_mib: 81559", "memory_mib: 0", "f.yaml:9: real_node.gpu.memory_mib: Input"),
        (
            "memory_mib: 81559",
            "memory_mib: 81559\n    mig_1g_5gb: 8",
            "f.yaml:10: real_node.gpu.mig_1g_5gb: Input should be less than or equal to 7",
        ),
        ("NVIDIA-H100-80GB-HBM3", "'H100 80GB'", "f.yaml:7: real_node.gpu.product: String should"),
        (
            "memory_mib: 81559",
            "memory_mib: 81559\n    family: hopper",
            "f.yaml:10: real_node.gpu.family: unknown field",
        ),
    ],
)
def test_bad_real_node_values_are_one_line_located_errors(old: str, new: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml_text(FLEET.replace(old, new), Fleet, source="f.yaml")
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_spec_for_takes_the_real_nodes_gpus_from_the_fleet(tmp_path: Path) -> None:
    spec = spec_for(_ctx(tmp_path, load_yaml_text(FLEET, Fleet)))
    assert spec.gpus == GpuSpec(
        count=8, product="NVIDIA-H100-80GB-HBM3", memory_mib=81559, mig_1g_5gb=7
    )
    assert spec.gpus.resources() == {"nvidia.com/gpu": 8, "nvidia.com/mig-1g.5gb": 7}
    labels = spec.gpus.labels()
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels["nvidia.com/gpu.memory"] == "81559"
    assert labels["nvidia.com/gpu.family"] == "hopper"
    assert labels["nvidia.com/gpu.count"] == "9"  # the MIG-partitioned GPU is one more

    no_mig = FLEET.replace("memory_mib: 81559", "memory_mib: 81559\n    mig_1g_5gb: 0")
    plain = spec_for(_ctx(tmp_path, load_yaml_text(no_mig, Fleet))).gpus
    assert plain.resources() == {"nvidia.com/gpu": 8}
    assert plain.labels()["nvidia.com/gpu.count"] == "8"
    assert "nvidia.com/mig.strategy" not in plain.labels()


def test_spec_for_keeps_the_built_in_gpus_without_real_node(tmp_path: Path) -> None:
    default = load_fleet(ROOT / "fleets" / "default.yaml")
    assert default.real_node is None
    for fleet in (None, default):
        spec = spec_for(_ctx(tmp_path, fleet))
        assert spec.gpus == GpuSpec()
        assert spec.pod_cidr == network.REAL_NODE_POD_CIDR


def test_foreign_standin_real_node_fits_what_the_whole_suite_deploys(tmp_path: Path) -> None:
    """The stand-in's real node must admit the reference units and the checks' GPU pods, and
    be priced: the whole foreign-mode run failed on each of these before (docs/foreign.md)."""
    import yaml

    from servegate.config.prices import load_prices
    from servegate.k8s.nodes import admits

    standin = load_fleet(ROOT / "fleets" / "foreign-standin.yaml")
    default = load_fleet(ROOT / "fleets" / "default.yaml")
    assert standin.name == "foreign-standin"
    assert standin.pools == default.pools
    assert standin.real_node is not None
    gpu = standin.real_node.gpu
    spec = spec_for(_ctx(tmp_path, standin)).gpus  # as the node is brought up
    node = {"metadata": {"name": "servegate-node-0", "labels": spec.labels()}}
    for unit in ("vllm-statefulset", "vllm-deployment", "rag-system"):
        docs = yaml.safe_load_all((ROOT / "manifests" / unit / "golden" / "sim.yaml").read_text())
        for o in docs:
            if o and o.get("kind") in ("Deployment", "StatefulSet"):
                pod = o["spec"]["template"]["spec"]
                assert admits(pod, node), f"{unit}: {o['metadata']['name']} not admitted"
    assert spec.resources()["nvidia.com/gpu"] >= 5  # a canary of 4 pods, or 4 and a surge pod
    assert gpu.product in load_prices().gpus  # the pattern checks bill by it


def test_a_running_cluster_is_known_by_the_fleet_file_it_was_made_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/foreign_suites.py refuses a cluster made with another fleet, or with an earlier
    version of its own (the real node's GPUs are read once, at up)."""
    import json

    from servegate.cluster import paths
    from servegate.cluster.local import LocalCluster, fleet_digest

    monkeypatch.setattr(paths, "state_root", lambda: tmp_path / "state")
    fleet = tmp_path / "standin.yaml"
    fleet.write_text(FLEET)
    cluster = LocalCluster("t")
    assert not cluster.made_with(fleet)  # never made
    cluster.state.mkdir(parents=True)
    meta = {"fleet": str(fleet), "fleet_sha256": fleet_digest(fleet)}
    cluster.meta_path.write_text(json.dumps(meta))
    assert cluster.fleet_file == fleet and cluster.made_with(fleet)
    assert not cluster.made_with(ROOT / "fleets" / "default.yaml")
    fleet.write_text(FLEET.replace("count: 8", "count: 4"))  # edited since
    assert not cluster.made_with(fleet)
