"""What the KEDA checks ask the cluster: where KEDA's inputs are, creating the ScaledObject
after the workload, and the autoscaler's own account of why it did (not) act.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, NoReturn

from servegate.errors import MissingCapability, UserError
from servegate.harness.cluster import ClusterHandle
from servegate.harness.deploy import Deployed
from servegate.harness.scaling import Probe, default_prometheus
from servegate.k8s.deploy import apply_objects
from servegate.wait import poll

PROMETHEUS_ENV = "SERVEGATE_KEDA_PROMETHEUS_URL"
"""On a cluster servegate did not make: the Prometheus address KEDA's operator can query."""


def redis_addresses(handle: ClusterHandle) -> tuple[str, tuple[str, int]]:
    """(address KEDA is given, (host, port) this process pushes to).

    On the local cluster KEDA is given the bridge address, as a real ScaledObject would name an
    address the cluster routes to (pods could reach it too); this process uses loopback.
    Elsewhere both come from $SERVEGATE_KEDA_REDIS."""
    from servegate.cluster import addons
    from servegate.cluster.addons import redis as redis_addon

    given = os.environ.get(redis_addon.REDIS_ENV)
    if given:
        return parse_redis_env(given)
    if handle.kind != "local":
        raise MissingCapability(
            f"the KEDA Redis check needs a Redis KEDA and this machine reach: set"
            f" {redis_addon.REDIS_ENV} (servegate runs one only on its local cluster)"
        )
    host, port = redis_addon.address(addons.context(handle.cluster_name))
    return f"{host}:{port}", (redis_addon.LOOPBACK, port)


def parse_redis_env(value: str) -> tuple[str, tuple[str, int]]:
    """``KEDA_HOST:PORT[,HOST:PORT]`` -> (KEDA's address, (host, port) to push to); a
    malformed value is a one-line error naming the variable."""
    from servegate.cluster.addons.redis import REDIS_ENV

    parts = [p.strip() for p in value.split(",")]
    pairs: list[tuple[str, int]] = []
    for part in parts:
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(
                f"{REDIS_ENV}={value!r}: expected HOST:PORT or KEDA_HOST:PORT,HOST:PORT"
            )
        pairs.append((host, int(port)))
    if len(pairs) > 2:
        raise UserError(
            f"{REDIS_ENV}={value!r}: at most two addresses (KEDA's, then this machine's)"
        )
    keda, push = pairs[0], pairs[-1]
    return f"{keda[0]}:{keda[1]}", push


def prometheus_addresses(handle: ClusterHandle) -> tuple[str, str | None]:
    """(serverAddress for KEDA, URL this process samples, or None).

    Locally, KEDA's operator is a host process and the node's Prometheus listens on
    127.0.0.1: the same URL serves both. Elsewhere KEDA runs in the cluster, so its address
    comes from $SERVEGATE_KEDA_PROMETHEUS_URL, and this process samples the one named by
    $SERVEGATE_PROMETHEUS_URL (none: sampling is left out)."""
    sample = default_prometheus(handle)
    if handle.kind == "local" and sample is not None:
        return sample, sample
    given = os.environ.get(PROMETHEUS_ENV)
    if not given:
        raise MissingCapability(f"set {PROMETHEUS_ENV} to the Prometheus URL KEDA can query")
    return given, sample


def create_scaledobject(handle: ClusterHandle, dep: Deployed, so: dict[str, Any]) -> None:
    """Apply ``so`` into the unit's namespace; the unit's teardown deletes it."""
    try:
        apply_objects(handle.client, [so], dep.namespace, handle.scope, applied=dep.applied)
    except Exception as exc:  # ClusterError or an API error: one line either way
        raise UserError(f"cannot create ScaledObject {so['metadata']['name']}: {exc}") from None


def _conditions(obj: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    conds = ((obj or {}).get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in conds}


def _get(handle: ClusterHandle, api_version: str, kind: str, ns: str, name: str) -> Any:
    try:
        res = handle.client.dynamic.resources.get(api_version=api_version, kind=kind)
        return res.get(name=name, namespace=ns).to_dict()
    except Exception:  # not there (yet), or not readable: the caller says what it waited for
        return None


def autoscaler_state(handle: ClusterHandle, ns: str, so_name: str) -> str:
    """The ScaledObject's Ready/Active and its HPA's ScalingActive conditions, in one line."""
    parts: list[str] = []
    so = _get(handle, "keda.sh/v1alpha1", "ScaledObject", ns, so_name)
    if so is None:
        parts.append(f"ScaledObject {so_name} not found")
    for t in ("Ready", "Active"):
        c = _conditions(so).get(t)
        if c is not None:
            parts.append(
                f"ScaledObject {t}={c.get('status')} ({c.get('message') or c.get('reason')})"
            )
    hpa_name = f"keda-hpa-{so_name}"
    hpa = _get(handle, "autoscaling/v2", "HorizontalPodAutoscaler", ns, hpa_name)
    if hpa is None:
        parts.append(f"no HPA {hpa_name}")
    else:
        c = _conditions(hpa).get("ScalingActive")
        if c is not None:
            parts.append(f"HPA ScalingActive={c.get('status')} ({c.get('message')})")
    return "; ".join(parts)


def wait_hpa(
    handle: ClusterHandle, ns: str, so_name: str, timeout_s: float = 60.0, refused_s: float = 15.0
) -> None:
    """Block until KEDA made the ScaledObject's HPA (KEDA accepted the object).

    Fails early when KEDA has said Ready=False for ``refused_s`` (it will not get there)."""
    name = f"keda-hpa-{so_name}"
    began = time.monotonic()
    refused_since: float | None = None

    def gave_up() -> UserError:
        waited = time.monotonic() - began
        state = autoscaler_state(handle, ns, so_name)
        return UserError(f"KEDA made no HPA for {so_name} in {waited:.0f}s: {state}")

    def made() -> bool:
        nonlocal refused_since
        if _get(handle, "autoscaling/v2", "HorizontalPodAutoscaler", ns, name) is not None:
            return True
        now = time.monotonic()
        so = _get(handle, "keda.sh/v1alpha1", "ScaledObject", ns, so_name)
        ready = _conditions(so).get("Ready", {}).get("status")
        refused_since = (refused_since or now) if ready == "False" else None
        if refused_since is not None and now - refused_since >= refused_s:
            raise gave_up()
        return False

    if poll(made, timeout_s) is None:
        raise gave_up()


def fail_explained(handle: ClusterHandle, ns: str, so_name: str, reason: str) -> NoReturn:
    """Fail with ``reason`` and what the autoscaler says about itself."""
    raise UserError(f"{reason}; autoscaler: {autoscaler_state(handle, ns, so_name)}")


def explained(handle: ClusterHandle, ns: str, so_name: str, step: Callable[[], float]) -> float:
    """Run an assertion step; on failure, add what the autoscaler said to the message."""
    try:
        return step()
    except MissingCapability:
        raise
    except UserError as exc:
        fail_explained(handle, ns, so_name, str(exc))


def with_queue_length(base: Probe, llen: Callable[[], int]) -> Probe:
    """``base`` with queue_depth taken from the Redis list instead of Prometheus."""

    def probe() -> dict[str, Any]:
        out = base()
        try:
            out["queue_depth"] = float(llen())
        except Exception as exc:  # redis errors: recorded, the series goes on
            out["errors"] = (*out.get("errors", ()), f"redis LLEN: {type(exc).__name__}: {exc}")
        return out

    return probe
