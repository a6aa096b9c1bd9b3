"""Fleet files: pools of simulated (kwok) GPU nodes for scheduling and bin-packing at scale.

Each pool becomes ``count`` fake Node objects carrying the capacity and the labels NVIDIA's
device plugin and GPU feature discovery would put on real hardware, so manifests written
for a real GPU cluster schedule the same way. Pod CIDRs are assigned here, not by the
controller manager, because kwok gives a pod an IP only when its node has ``spec.podCIDR``.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from servegate.config.base import StrictModel, load_yaml_file

_DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$"
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_MIG_PROFILE = re.compile(r"^[1-7]g\.[0-9]+gb$")

#: Annotation kwok is told to manage; the real node never carries it.
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
#: Fake nodes take their pod CIDRs from here, one /24 each, in fleet order.
KWOK_POD_RANGE = "10.232.0.0/14"
MAX_NODES = 1024


# The product and memory of a GPU, for the pools' GPUs and the real node's alike.
_Product = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$",
        description="nvidia.com/gpu.product, e.g. NVIDIA-H100-80GB-HBM3",
    ),
]
_MemoryMib = Annotated[
    int, Field(gt=0, description="memory per GPU in MiB (nvidia.com/gpu.memory)")
]


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not a valid label key")
        if not _LABEL_VALUE.fullmatch(value):
            raise ValueError(f"label {key}: {value!r} is not a valid label value")
    return labels


class Taint(StrictModel):
    """A node taint, as in ``kubectl taint``."""

    key: str = Field(..., description="taint key")
    value: str = Field("", description="taint value")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _LABEL_KEY.fullmatch(v):
            raise ValueError(f"{v!r} is not a valid taint key")
        return v


class Mig(StrictModel):
    """MIG partitions of every GPU of a node (device plugin's 'mixed' or 'single' strategy)."""

    strategy: Literal["mixed", "single"] = "mixed"
    profiles: dict[str, int] = Field(..., description="profile (e.g. 1g.10gb) -> slices per GPU")

    @field_validator("profiles")
    @classmethod
    def _profiles(cls, v: dict[str, int]) -> dict[str, int]:
        if not v:
            raise ValueError("at least one profile is needed")
        for name, n in v.items():
            if not _MIG_PROFILE.fullmatch(name):
                raise ValueError(f"{name!r} is not a MIG profile like 1g.10gb")
            if not 1 <= n <= 7:
                raise ValueError(f"{name}: slices per GPU must be 1..7")
        return v

    @model_validator(mode="after")
    def _single(self) -> Mig:
        if self.strategy == "single" and len(self.profiles) != 1:
            raise ValueError("the 'single' strategy takes exactly one profile")
        return self


class Gpu(StrictModel):
    """The GPUs of one node."""

    product: _Product
    count: int = Field(..., ge=1, le=16, description="physical GPUs per node")
    memory_mib: _MemoryMib
    family: str | None = Field(None, description="nvidia.com/gpu.family, e.g. ampere, hopper")
    mig: Mig | None = None
    time_slicing_replicas: int | None = Field(
        None, ge=2, le=64, description="time-slicing replicas per GPU (shared nvidia.com/gpu)"
    )

    @model_validator(mode="after")
    def _one_sharing_mode(self) -> Gpu:
        if self.mig is not None and self.time_slicing_replicas is not None:
            raise ValueError("mig and time_slicing_replicas cannot both be set on one pool")
        return self

    def resources(self) -> dict[str, int]:
        """Extended resources the device plugin would advertise."""
        if self.mig is not None:
            if self.mig.strategy == "single":
                ((_, per_gpu),) = self.mig.profiles.items()
                return {"nvidia.com/gpu": per_gpu * self.count}
            return {f"nvidia.com/mig-{p}": n * self.count for p, n in self.mig.profiles.items()}
        return {"nvidia.com/gpu": self.count * (self.time_slicing_replicas or 1)}

    def labels(self) -> dict[str, str]:
        """The labels GPU feature discovery would set."""
        product = self.product
        out = {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.count": str(self.count),
            "nvidia.com/gpu.memory": str(self.memory_mib),
        }
        if self.family:
            out["nvidia.com/gpu.family"] = self.family
        if self.mig is not None:
            out["nvidia.com/mig.strategy"] = self.mig.strategy
            if self.mig.strategy == "single":
                ((profile, _),) = self.mig.profiles.items()
                product = f"{product}-MIG-{profile}"
        if self.time_slicing_replicas is not None:
            out["nvidia.com/gpu.replicas"] = str(self.time_slicing_replicas)
            out["nvidia.com/gpu.sharing-strategy"] = "time-slicing"
            product = f"{product}-SHARED"
        out["nvidia.com/gpu.product"] = product
        return out


class Pool(StrictModel):
    """``count`` identical fake nodes."""

    name: str = Field(..., pattern=_DNS_LABEL, description="pool name; nodes are kwok-<name>-NNNN")
    count: int = Field(..., ge=0, le=MAX_NODES)
    gpu: Gpu | None = None
    cpu: str = Field("64", pattern=_QUANTITY)
    memory: str = Field("512Gi", pattern=_QUANTITY)
    pods: int = Field(110, ge=1, le=250, description="max pods per node (fits a /24)")
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)

    _check = field_validator("labels")(_check_labels)

    def node_name(self, index: int) -> str:
        return f"kwok-{self.name}-{index:04d}"


class RealNodeGpu(StrictModel):
    """The simulated GPUs of the real node, served by its fake device plugin."""

    product: _Product
    count: int = Field(..., ge=1, le=16, description="whole GPUs (nvidia.com/gpu)")
    memory_mib: _MemoryMib
    mig_1g_5gb: int = Field(
        7,
        ge=0,
        le=7,
        description="nvidia.com/mig-1g.5gb slices of one more, MIG-partitioned GPU (0: none)",
    )


class RealNode(StrictModel):
    """The one real node (kubelet + containerd on this host): the only node that runs
    containers. Without it in the fleet file, the node keeps its built-in GPUs."""

    gpu: RealNodeGpu


class Fleet(StrictModel):
    """A fleet file: named pools of fake GPU nodes, and optionally the real node's GPUs."""

    name: str = Field(..., pattern=_DNS_LABEL)
    description: str = ""
    pools: list[Pool] = Field(..., min_length=1)
    real_node: RealNode | None = Field(
        None, description="the real node's simulated GPUs; unset: its built-in ones"
    )

    @model_validator(mode="after")
    def _totals(self) -> Fleet:
        names = [p.name for p in self.pools]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"pool names must be unique: {', '.join(dup)}")
        if self.node_count > MAX_NODES:
            raise ValueError(f"{self.node_count} nodes in total; at most {MAX_NODES}")
        return self

    @property
    def node_count(self) -> int:
        return sum(p.count for p in self.pools)

    def gpu_count(self, resource: str = "nvidia.com/gpu") -> int:
        """Total advertised units of one extended resource across the fleet."""
        return sum(
            p.count * (p.gpu.resources().get(resource, 0) if p.gpu else 0) for p in self.pools
        )


def pod_cidrs(fleet: Fleet) -> list[str]:
    """One /24 per fake node, in fleet order, from :data:`KWOK_POD_RANGE`."""
    subnets = ipaddress.ip_network(KWOK_POD_RANGE).subnets(new_prefix=24)
    return [str(next(subnets)) for _ in range(fleet.node_count)]


def load_fleet(path: str | Path) -> Fleet:
    """Load and validate a fleet file (errors name the file, line and field)."""
    return load_yaml_file(path, Fleet)
