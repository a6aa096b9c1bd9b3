"""Deploying a pattern whose StatefulSet claims storage on a cluster with no provisioner.

The local cluster has no storage class, so a StatefulSet's volumeClaimTemplates claims (the
vLLM model cache, 100Gi ReadWriteOnce) would stay Pending and its pods unscheduled. Before the
unit is applied, the suite creates one hostPath PersistentVolume per claim the StatefulSet will
make, of the claim's size and access modes, in a storage class name private to this test, and
sets that class on the claim templates (the one change to the unit: which class provides the
storage is the cluster's business, the reference manifests leave it to the default class).
The claims then bind at once and the pods schedule as written. The volumes carry the run's
labels, are deleted after the namespace, and their directories (under HOST_ROOT) are removed
from the node, which on the local cluster is this host.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from servegate.errors import MissingCapability
from servegate.harness.cluster import ClusterHandle, DeployUnit
from servegate.harness.deploy import Deployed
from servegate.k8s.nodes import unplaceable
from servegate.wait import poll

HOST_ROOT = Path("/var/tmp/servegate-pv")


def claims_of(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(claim name, claim spec) of every PVC the unit's StatefulSets will create."""
    out = []
    for o in objects:
        if o.get("kind") != "StatefulSet":
            continue
        sts, spec = o["metadata"]["name"], o["spec"]
        for tmpl in spec.get("volumeClaimTemplates", []):
            for i in range(int(spec.get("replicas", 1))):
                out.append((f"{tmpl['metadata']['name']}-{sts}-{i}", tmpl["spec"]))
    return out


def with_storage_class(objects: list[dict[str, Any]], klass: str) -> list[dict[str, Any]]:
    """The objects with ``klass`` on every StatefulSet claim template (copies, not in place)."""
    out = []
    for o in objects:
        if o.get("kind") == "StatefulSet" and o["spec"].get("volumeClaimTemplates"):
            o = copy.deepcopy(o)
            for tmpl in o["spec"]["volumeClaimTemplates"]:
                tmpl["spec"]["storageClassName"] = klass
        out.append(o)
    return out


def volume_for(
    name: str, klass: str, spec: dict[str, Any], labels: dict[str, str]
) -> dict[str, Any]:
    """A hostPath PersistentVolume that only claims of storage class ``klass`` can bind."""
    storage = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": klass,
            "hostPath": {"path": str(HOST_ROOT / name), "type": "DirectoryOrCreate"},
        },
    }


def remove_host_dirs(root: Path, names: Iterable[str]) -> None:
    """Remove the directories ``names`` directly under ``root`` on the node (the local node is
    this host), then ``root`` itself when nothing else is left in it."""
    for name in names:
        path = root / name
        if path.parent == root and path.is_dir():
            shutil.rmtree(path)
    with contextlib.suppress(OSError):
        root.rmdir()  # only when empty: another run may be using it


def _gone(core: Any, name: str) -> bool:
    """True once the PersistentVolume ``name`` no longer exists."""
    from kubernetes.client.exceptions import ApiException

    try:
        core.read_persistent_volume(name)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


class StaticVolumes:
    """hostPath PersistentVolumes for a unit's StatefulSet claims, made for one test."""

    def __init__(self, handle: ClusterHandle) -> None:
        self.handle = handle
        self.klass = f"servegate-static-{secrets.token_hex(4)}"
        self.names: list[str] = []

    def provide(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create the volumes for the objects' claims; return the objects using them."""
        core = self.handle.client.core
        for claim, spec in claims_of(objects):
            name = f"{self.klass}-{claim}"[:253]
            body = volume_for(name, self.klass, spec, self.handle.scope.labels())
            core.create_persistent_volume(body)
            self.names.append(name)
        return with_storage_class(objects, self.klass)

    def close(self, timeout_s: float = 60.0) -> None:
        """Delete the volumes this run made, wait (up to ``timeout_s``) until they are gone,
        then remove their directories."""
        from kubernetes.client.exceptions import ApiException

        core = self.handle.client.core
        for name in self.names:
            try:
                pv = core.read_persistent_volume(name)
                if self.handle.scope.owns(pv.metadata.labels):
                    core.delete_persistent_volume(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        pending = set(self.names)

        def all_gone() -> bool:
            pending.difference_update([n for n in sorted(pending) if _gone(core, n)])
            return not pending

        poll(all_gone, timeout_s, 0.5)  # a volume still there is left to the cluster
        remove_host_dirs(HOST_ROOT, self.names)


DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def unprovided_claims(handle: ClusterHandle, objects: list[dict[str, Any]]) -> str | None:
    """Why the StatefulSets' claims in ``objects`` cannot bind on the cluster (no default
    StorageClass, or a named class it does not have), or None. Not judged when the
    StorageClasses cannot be listed."""
    claims = claims_of(objects)
    if not claims:
        return None
    try:
        items = (
            handle.client.dynamic.resources.get(
                api_version="storage.k8s.io/v1", kind="StorageClass"
            )
            .get()
            .to_dict()
            .get("items")
            or []
        )
    except Exception:  # forbidden or unreadable: the deploy's own wait will tell
        return None
    names = {i["metadata"]["name"] for i in items}
    defaults = [
        i["metadata"]["name"]
        for i in items
        if (i["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"
    ]
    for claim, spec in claims:
        wanted = spec.get("storageClassName")
        if wanted is None and not defaults:
            return (
                f"claim {claim} names no storage class and the cluster has no default "
                "StorageClass: give the cluster one (or a class the claim names)"
            )
        if wanted and wanted not in names:
            return f"claim {claim} asks for StorageClass {wanted!r}, which the cluster has not"
    return None


def unplaced(handle: ClusterHandle, objects: list[dict[str, Any]]) -> str | None:
    """Why a workload of the unit fits no node that runs containers (its nodeSelector and
    required node affinity against the nodes' labels), or None; not judged when the nodes
    cannot be listed."""
    try:
        api = handle.client.core.api_client
        nodes = [api.sanitize_for_serialization(n) for n in handle.client.core.list_node().items]
    except Exception:  # forbidden or unreadable: the deploy's own wait will tell
        return None
    run = handle.container_nodes
    if run is not None:
        nodes = [n for n in nodes if n["metadata"]["name"] in run]
    return unplaceable(objects, nodes)


@contextlib.contextmanager
def deploy_pattern(
    handle: ClusterHandle,
    deploy_unit: DeployUnit,
    unit: str,
    mutate: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    timeout_s: float = 600.0,
) -> Iterator[Deployed]:
    """``deploy_unit`` plus, on the local cluster, PersistentVolumes for the unit's claims;
    elsewhere the claims need a storage class that can provide them (the cluster's default,
    or the one a claim names): without one the check is a missing capability, said before
    anything is deployed, instead of pods Pending until the deadline. So is a workload whose
    placement (GPU product, labels) no node that runs containers admits."""
    if handle.kind != "local":

        def checked(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
            objects = mutate(objects) if mutate else objects
            reason = unprovided_claims(handle, objects) or unplaced(handle, objects)
            if reason is not None:
                raise MissingCapability(reason)
            return objects

        with deploy_unit(unit, timeout_s=timeout_s, mutate=checked) as dep:
            yield dep
        return
    volumes = StaticVolumes(handle)

    def prepare(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return volumes.provide(mutate(objects) if mutate else objects)

    try:
        with deploy_unit(unit, timeout_s=timeout_s, mutate=prepare) as dep:
            yield dep
    finally:
        volumes.close()


__all__ = [
    "HOST_ROOT",
    "StaticVolumes",
    "claims_of",
    "deploy_pattern",
    "remove_host_dirs",
    "volume_for",
    "with_storage_class",
]
