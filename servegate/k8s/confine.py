"""Make a rendered unit safe for a cluster servegate did not make (shared with other teams).

The reference units are written for a cluster of their own: a PriorityClass that preempts, an
Ingress that claims a public host with a production certificate issuer, alerts and monitors
that cover every GPU and namespace. On a shared cluster a benchmark must touch nothing it did
not create, so before such a unit is applied into the run's namespace:

- PriorityClasses never preempt (``preemptionPolicy: Never``) and rank below the cluster's
  default priority, unless the user opted in (``--sg-allow-preemption``);
- an Ingress is deployed only for a host the user named (``--sg-ingress-host``), with TLS only
  through an issuer the user named (``--sg-tls-issuer``); otherwise it is left out;
- PrometheusRule expressions select only the run's namespace, and ServiceMonitors and
  PodMonitors watch only it.

Every change is returned as a note for the run's records.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import promql_parser

from servegate.errors import UserError

_ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
_TLS_ANNOTATIONS = ("nginx.ingress.kubernetes.io/ssl-redirect",)


@dataclass(frozen=True)
class Confinement:
    """What a run may claim on a shared cluster."""

    allow_preemption: bool = False
    default_priority: int = 0  # the cluster's globalDefault PriorityClass value (0 if none)
    ingress_host: str | None = None
    tls_issuer: str | None = None  # a ClusterIssuer name


def cluster_default_priority(api_client: Any) -> int:
    """The priority pods get when they name no PriorityClass: the value of the cluster's
    globalDefault PriorityClass, or 0."""
    from kubernetes import client

    classes = client.SchedulingV1Api(api_client).list_priority_class().items
    defaults = [int(pc.value or 0) for pc in classes if pc.global_default]
    return max(defaults, default=0)


def confine(
    objects: list[dict[str, Any]], namespace: str, rules: Confinement
) -> tuple[list[dict[str, Any]], list[str]]:
    """``objects`` as they may be applied into ``namespace`` on a shared cluster, and a note
    for each change."""
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    for obj in objects:
        kind = obj.get("kind")
        name = f"{kind}/{obj.get('metadata', {}).get('name', '')}"
        if kind == "PriorityClass" and not rules.allow_preemption:
            out.append(_yielding(obj, rules.default_priority, name, notes))
        elif kind == "Ingress":
            if rules.ingress_host is None:
                notes.append(f"{name} left out: no --sg-ingress-host, so no host is claimed")
                continue
            out.append(_ingress(obj, rules, name, notes))
        elif kind == "PrometheusRule":
            out.append(_rule_in(obj, namespace, name, notes))
        elif kind in ("ServiceMonitor", "PodMonitor"):
            obj = copy.deepcopy(obj)
            obj.setdefault("spec", {})["namespaceSelector"] = {"matchNames": [namespace]}
            notes.append(f"{name} watches namespace {namespace} only")
            out.append(obj)
        else:
            out.append(obj)
    return out, notes


def _yielding(obj: dict[str, Any], default: int, name: str, notes: list[str]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    value = obj.get("value")
    below = min(value if isinstance(value, int) else 0, default - 1)
    obj["value"] = below
    obj["preemptionPolicy"] = "Never"
    obj["globalDefault"] = False
    notes.append(
        f"{name}: preemptionPolicy Never, value {below} (was {value}; cluster default "
        f"{default}); --sg-allow-preemption keeps the manifest's"
    )
    return obj


def _ingress(
    obj: dict[str, Any], rules: Confinement, name: str, notes: list[str]
) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    host = rules.ingress_host
    spec = obj.setdefault("spec", {})
    for rule in spec.get("rules") or []:
        if isinstance(rule, dict):
            rule["host"] = host
    annotations = obj.setdefault("metadata", {}).setdefault("annotations", {})
    for key in _ISSUER_ANNOTATIONS:
        annotations.pop(key, None)
    if rules.tls_issuer:
        annotations["cert-manager.io/cluster-issuer"] = rules.tls_issuer
        for tls in spec.get("tls") or []:
            if isinstance(tls, dict):
                tls["hosts"] = [host]
        notes.append(f"{name}: host {host}, TLS from ClusterIssuer {rules.tls_issuer}")
    else:
        spec.pop("tls", None)
        for key in _TLS_ANNOTATIONS:
            annotations.pop(key, None)
        notes.append(f"{name}: host {host}, no TLS (no --sg-tls-issuer)")
    return obj


def _rule_in(obj: dict[str, Any], namespace: str, name: str, notes: list[str]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for group in (obj.get("spec") or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            expr = rule.get("expr")
            if isinstance(expr, str):
                rule["expr"] = scope_query(expr, namespace)
    notes.append(f"{name}: every expression selects namespace {namespace} only")
    return obj


_NAME = r"(?<![\w:])"  # a selector starts where no metric-name character precedes it


def scope_query(query: str, namespace: str) -> str:
    """``query`` with every series selector restricted to ``namespace`` (an existing namespace
    matcher is replaced). The result is parsed again and checked; a query the parser cannot
    read is a UserError, since it could not be confined."""
    try:
        expr = promql_parser.parse(query)
    except ValueError as exc:
        raise UserError(f"cannot confine PromQL {query!r}: {exc}") from None
    text = str(expr)  # canonical form: selectors render as they are matched below
    done: set[str] = set()
    for selector in _selectors(expr):
        old = (selector.name or "") + str(selector.matchers)
        if old in done:
            continue
        done.add(old)
        kept = [m for m in selector.matchers.matchers if m.name != "namespace"]
        kept.append(promql_parser.Matcher(promql_parser.MatchOp.Equal, "namespace", namespace))
        new = (selector.name or "") + str(promql_parser.Matchers(kept))
        text = re.sub(_NAME + re.escape(old), _literally(new), text)
    result = promql_parser.parse(text)
    for selector in _selectors(result):
        scoped = [m.value for m in selector.matchers.matchers if m.name == "namespace"]
        if scoped != [namespace]:
            raise UserError(f"cannot confine PromQL {query!r} to namespace {namespace}")
    return text


def _literally(text: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that inserts ``text`` as it is (no backslash escapes)."""
    return lambda _: text


def _selectors(expr: promql_parser.Expr) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(expr, pre_visit=visit)
    return found
