"""What the KubeRay and KServe add-ons share: CRD presence, health probes, in-cluster checks.

Both run an upstream controller-runtime manager as a host process with its own identity
(servegate.cluster.identities; leader election off, metrics and probes on loopback); they
reconcile CRDs that the ``sg_cluster`` fixture installs from manifests/crds. The add-ons never
install or modify CRDs themselves: on the shared cluster those belong to the fixture (and,
elsewhere, to the operators' owners).
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any

from servegate.cluster.addons import portfile
from servegate.cluster.addons.base import AddonContext
from servegate.cluster.api import Api, ApiError
from servegate.errors import UserError

LOOPBACK = "127.0.0.1"
CRD_HINT = "kubectl apply --server-side -k manifests/crds"


def missing_crds(api: Api, names: tuple[str, ...]) -> list[str]:
    """The CustomResourceDefinitions in ``names`` the API server does not have."""
    out: list[str] = []
    for name in names:
        try:
            api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        except ApiError as exc:
            if exc.status != 404:
                raise UserError(f"reading CRD {name}: {exc}") from None
            out.append(name)
    return out


def require_crds(api: Api, addon: str, names: tuple[str, ...]) -> None:
    """A one-line error naming the missing CRDs and how to install them."""
    missing = missing_crds(api, names)
    if missing:
        raise UserError(f"add-on {addon} needs CRDs {', '.join(missing)}: {CRD_HINT}")


def probe_ok(port: int, path: str = "/readyz", timeout_s: float = 2.0) -> str | None:
    """None if ``http://127.0.0.1:port/path`` answers 200, else why not (one line)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read(200).decode("utf-8", "replace").strip()
    except OSError as exc:
        return f"{path} on {LOOPBACK}:{port}: {exc}"
    finally:
        conn.close()
    if resp.status != 200:
        return f"{path} on {LOOPBACK}:{port} answered {resp.status} {body}"
    return None


def manager_ready(
    ctx: AddonContext,
    addon: str,
    process: str,
    also: Callable[[AddonContext], str | None] = lambda _ctx: None,
) -> str | None:
    """None once the manager runs, ``also`` holds and its readiness probe (on the port the
    add-on recorded as "probe") answers; else what is missing (one line)."""
    if not ctx.sup.alive(process):
        return f"{process} is not running"
    reason = also(ctx)
    if reason is not None:
        return reason
    port = portfile.read(ctx.dir(addon), "probe")
    if port is None:
        return f"{process} has no recorded probe port"
    return probe_ok(port)


def operator_installed(
    client: Any, crds: tuple[str, ...], selector: str, what: str, install: str
) -> str | None:
    """On an existing cluster: None if the operator's CRDs are served and no Deployment of its
    chart (labelled ``selector``) is seen failing; else why not, with ``install``.

    The CRDs are the capability the API shows. Operators installed otherwise than by their
    chart (other labels, another namespace the identity cannot list) are not looked for: the
    checks' own reconcile deadlines then say whether anything reconciles."""
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    ext = k8s.ApiextensionsV1Api(client.api_client)
    for name in crds:
        try:
            ext.read_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status == 404:
                return f"{what} is not installed (no CRD {name}): {install}"
            return f"cannot read CRD {name}: {exc.status} {exc.reason}"
    try:
        deps = client.apps.list_deployment_for_all_namespaces(label_selector=selector).items
    except ApiException:
        return None  # not allowed to look cluster-wide: the CRDs are what the API shows
    if deps and not any((d.status.ready_replicas or 0) > 0 for d in deps):
        return f"{what} ({selector}) not ready: {install}"
    return None
