"""Cluster providers, keyed by kind: ``local`` (default), ``existing`` and ``kind``.

Every provider answers the same four questions (up, down, status, kubeconfig); the
pytest fixtures and the CLI never need to know which one they hold.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml

from servegate.errors import UserError

if TYPE_CHECKING:
    from servegate.cluster.gobuild import ProgressFn
    from servegate.cluster.kind.cluster import KindUp

ALLOWED_ENV = "SERVEGATE_ALLOWED_CONTEXTS"


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach a cluster."""

    kubeconfig: Path
    context: str


class ClusterProvider(ABC):
    """A way to obtain a cluster."""

    kind: ClassVar[str]

    @abstractmethod
    def up(self) -> ClusterAccess:
        """Make the cluster available (idempotent)."""

    @abstractmethod
    def down(self) -> None:
        """Release what ``up`` created; never touches a cluster it did not create."""

    @abstractmethod
    def status(self) -> str:
        """One line."""

    @abstractmethod
    def access(self) -> ClusterAccess:
        """Kubeconfig and context, without starting anything."""

    def load_images(self, names: Sequence[str], progress: ProgressFn | None = None) -> list[str]:
        """Put servegate's locally built images (``engine``) on the cluster's nodes."""
        raise UserError(
            f"servegate cannot load its local image(s) {', '.join(names)} into a {self.kind} "
            "cluster: push them to a registry its nodes pull from (docs/engine.md)"
        )


REGISTRY: dict[str, type[ClusterProvider]] = {}


def register(cls: type[ClusterProvider]) -> type[ClusterProvider]:
    REGISTRY[cls.kind] = cls
    return cls


def provider(kind: str, **options: Any) -> ClusterProvider:
    """Instantiate the provider of ``kind``; unknown kinds are a one-line error."""
    cls = REGISTRY.get(kind)
    if cls is None:
        raise UserError(
            f"unknown cluster kind {kind!r}: choose one of {', '.join(sorted(REGISTRY))}"
        )
    return cls(**options)


def allowed_contexts(flag: tuple[str, ...] | list[str] = ()) -> set[str]:
    """Contexts allowed by ``--allow-context`` and ``SERVEGATE_ALLOWED_CONTEXTS`` (comma list)."""
    env = [c.strip() for c in os.environ.get(ALLOWED_ENV, "").split(",")]
    return {c for c in (*flag, *env) if c}


def kubeconfig_contexts(path: Path) -> tuple[list[str], str | None]:
    """Context names and current context of a kubeconfig; errors name the file."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such kubeconfig") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: not a readable kubeconfig ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts", []), list):
        raise UserError(f"{path}: not a kubeconfig (no 'contexts' list)")
    names = [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict)]
    current = data.get("current-context")
    return [str(n) for n in names if n], str(current) if current else None


@register
class LocalProvider(ClusterProvider):
    """The embedded cluster (see :mod:`servegate.cluster.local`)."""

    kind = "local"

    def __init__(
        self, name: str = "local", fleet: Path | None = None, node: bool = True, slot: int = 0
    ) -> None:
        from servegate.cluster.local import LocalCluster

        self.cluster = LocalCluster(name, slot=slot)
        self.fleet, self.node = fleet, node

    def up(self) -> ClusterAccess:
        result = self.cluster.up(self.fleet, node=self.node)
        return ClusterAccess(result.kubeconfig, result.context)

    def down(self) -> None:
        self.cluster.down()

    def status(self) -> str:
        procs, ready, total = self.cluster.status()
        running = sum(p.running for p in procs)
        return (
            f"local/{self.cluster.name}: {running}/{len(procs)} processes, "
            f"{len(ready)}/{total} nodes Ready"
        )

    def load_images(self, names: Sequence[str], progress: ProgressFn | None = None) -> list[str]:
        return self.cluster.load_images(names, progress)

    def access(self) -> ClusterAccess:
        from servegate.cluster.controlplane import context_name

        return ClusterAccess(self.cluster.layout.admin_kubeconfig, context_name(self.cluster.name))


@register
class ExistingProvider(ClusterProvider):
    """A cluster the user names. Refused unless its context is allow-listed."""

    kind = "existing"

    def __init__(
        self,
        kubeconfig: Path | None = None,
        context: str | None = None,
        allow: tuple[str, ...] = (),
    ) -> None:
        path = Path(
            kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]
        )
        path = path.expanduser()
        names, current = kubeconfig_contexts(path)
        ctx = context or current
        if not ctx:
            raise UserError(f"{path}: no current-context; pass --context")
        if ctx not in names:
            raise UserError(f"{path}: no context named {ctx!r} (has: {', '.join(names) or 'none'})")
        allowed = allowed_contexts(allow)
        if ctx not in allowed:
            raise UserError(
                f"context {ctx!r} is not allow-listed: servegate writes to the clusters it tests; "
                f"pass --allow-context {ctx} or set {ALLOWED_ENV}={ctx}"
            )
        self._access = ClusterAccess(path, ctx)

    def _version(self) -> str:
        from kubernetes import client, config

        try:
            kc, ctx = str(self._access.kubeconfig), self._access.context
            api = config.new_client_from_config(kc, ctx)  # type: ignore[no-untyped-call]
            info = client.VersionApi(api).get_code(_request_timeout=5)
            return str(info.git_version)
        except Exception as exc:
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise UserError(f"context {self._access.context!r} is unreachable: {reason}") from None

    def up(self) -> ClusterAccess:
        self._version()
        return self._access

    def down(self) -> None:
        """Nothing: an existing cluster is never torn down by servegate."""

    def status(self) -> str:
        return f"existing/{self._access.context}: reachable, {self._version()}"

    def access(self) -> ClusterAccess:
        return self._access


@register
class KindProvider(ClusterProvider):
    """A kind cluster through pytest-kind (see :mod:`servegate.cluster.kind`): Docker, or a
    dockerd servegate starts; servegate's offline node image unless ``image`` names one."""

    kind = "kind"

    def __init__(
        self,
        name: str = "servegate",
        image: str | None = None,
        log: Callable[[str], None] | None = None,
        progress: ProgressFn | None = None,
    ) -> None:
        from servegate.cluster.kind.cluster import KindCluster

        self.cluster = KindCluster(name, image, **_sinks(log, progress))
        self.name = self.cluster.name
        self.last_up: KindUp | None = None

    def exists(self) -> bool:
        """The cluster is there already (``up`` would reuse it)."""
        return self.cluster.exists()

    def up(self) -> ClusterAccess:
        self.last_up = self.cluster.up()
        return self.access()

    def down(self) -> None:
        self.cluster.down()

    def status(self) -> str:
        return self.cluster.status()

    def load_images(self, names: Sequence[str], progress: ProgressFn | None = None) -> list[str]:
        return self.cluster.load_images(names, progress)

    def access(self) -> ClusterAccess:
        return ClusterAccess(self.cluster.kubeconfig, self.cluster.context)


def _sinks(log: Callable[[str], None] | None, progress: ProgressFn | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if log is not None:
        out["log"] = log
    if progress is not None:
        out["progress"] = progress
    return out
