"""A connection to one cluster, made only after the context has been checked.

The allow-list is enforced by the cluster provider before anything is written; this module
checks again (cheaply) so that nothing in ``servegate.k8s`` can be pointed at a context by
accident, and turns an unreachable API server into one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servegate.errors import UserError


class ClusterError(UserError):
    """The cluster cannot be used: unreachable, refused context, missing API."""


@dataclass(frozen=True)
class Target:
    kubeconfig: str
    context: str
    allowed: tuple[str, ...]


@dataclass
class Cluster:
    """Typed and dynamic clients for one allow-listed context."""

    target: Target
    api_client: Any
    core: Any
    apps: Any
    dynamic: Any

    def close(self) -> None:
        self.api_client.close()


def connect(target: Target, timeout_s: float = 10.0) -> Cluster:
    if target.context not in target.allowed:
        raise ClusterError(
            f"context {target.context!r} is not allow-listed; pass --allow-context "
            f"{target.context} (or SERVEGATE_ALLOWED_CONTEXTS) if servegate may deploy there"
        )
    from kubernetes import client, config, dynamic
    from kubernetes.config.config_exception import ConfigException

    try:
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=target.kubeconfig, context=target.context
        )
    except (ConfigException, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClusterError(
            f"{target.kubeconfig}: cannot load context {target.context!r}: {first}"
        ) from None
    try:
        client.VersionApi(api_client).get_code(_request_timeout=timeout_s)
    except Exception as exc:  # urllib3 and the client raise many kinds; all mean "unreachable"
        api_client.close()
        host = api_client.configuration.host
        raise ClusterError(
            f"cluster {target.context!r} at {host} is unreachable: {type(exc).__name__}"
        ) from None
    return Cluster(
        target=target,
        api_client=api_client,
        core=client.CoreV1Api(api_client),
        apps=client.AppsV1Api(api_client),
        dynamic=dynamic.DynamicClient(api_client),  # type: ignore[no-untyped-call]
    )
