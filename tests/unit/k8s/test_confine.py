"""On a cluster servegate did not make, a unit claims nothing beyond its namespace: the shipped
reference units, rendered as they are, go through servegate.k8s.confine before they are
applied."""

from __future__ import annotations

from typing import Any

import promql_parser
import pytest

from servegate.errors import UserError
from servegate.k8s.confine import Confinement, confine, scope_query
from servegate.k8s.render import render_unit, resolve_unit

NS = "sg-r1-check"


def rendered(unit: str, overlay: str = "sim") -> list[dict[str, Any]]:
    return render_unit(resolve_unit(unit, overlay))


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


@pytest.mark.parametrize("unit", ["vllm-deployment", "vllm-statefulset", "rag-system"])
def test_shipped_priority_classes_yield_on_a_shared_cluster(unit: str) -> None:
    objects = rendered(unit)
    (shipped,) = of_kind(objects, "PriorityClass")
    assert shipped["preemptionPolicy"] == "PreemptLowerPriority"  # the manifest as written
    out, notes = confine(objects, NS, Confinement(default_priority=1000))
    (pc,) = of_kind(out, "PriorityClass")
    assert pc["preemptionPolicy"] == "Never" and pc["value"] == 999
    assert pc["globalDefault"] is False
    assert any("preemptionPolicy Never" in n for n in notes)
    kept, _ = confine(objects, NS, Confinement(allow_preemption=True))
    assert of_kind(kept, "PriorityClass") == [shipped]


def test_the_rag_ingress_claims_no_host_unless_named() -> None:
    objects = rendered("rag-system")
    assert of_kind(objects, "Ingress"), "the RAG unit ships an Ingress"
    out, notes = confine(objects, NS, Confinement())
    assert of_kind(out, "Ingress") == []
    assert any("no --sg-ingress-host" in n for n in notes)
    named, _ = confine(objects, NS, Confinement(ingress_host="rag.team-a.example"))
    (ingress,) = of_kind(named, "Ingress")
    assert {r["host"] for r in ingress["spec"]["rules"]} == {"rag.team-a.example"}
    assert "tls" not in ingress["spec"]
    assert not any(k.startswith("cert-manager.io/") for k in ingress["metadata"]["annotations"])
    tls, _ = confine(objects, NS, Confinement(ingress_host="rag.a.example", tls_issuer="team-ca"))
    (ingress,) = of_kind(tls, "Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "team-ca"
    assert all(t["hosts"] == ["rag.a.example"] for t in ingress["spec"]["tls"])


def test_shipped_alerts_and_monitors_cover_only_the_run_namespace() -> None:
    objects = rendered("vllm-deployment", "gpu")
    rules = of_kind(objects, "PrometheusRule")
    monitors = of_kind(objects, "ServiceMonitor") + of_kind(objects, "PodMonitor")
    assert rules and monitors, "the gpu overlay ships monitoring"
    out, _ = confine(objects, NS, Confinement())
    exprs = [
        r["expr"]
        for obj in of_kind(out, "PrometheusRule")
        for g in obj["spec"]["groups"]
        for r in g["rules"]
    ]
    assert exprs
    for expr in exprs:  # the oracle: the parser's own reading of each selector
        found = selectors(expr)
        assert found, expr
        for selector in found:
            values = [m.value for m in selector.matchers.matchers if m.name == "namespace"]
            assert values == [NS], (expr, str(selector))
    for obj in of_kind(out, "ServiceMonitor") + of_kind(out, "PodMonitor"):
        assert obj["spec"]["namespaceSelector"] == {"matchNames": [NS]}


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("up", 'up{namespace="n"}'),
        ('sum(rate(a{job="x",namespace="other"}[5m]))', 'sum(rate(a{job="x",namespace="n"}[5m]))'),
        ("up + backup", 'up{namespace="n"} + backup{namespace="n"}'),  # no substring mix-up
        ("rate(x[5m:1m])", 'rate(x{namespace="n"}[5m:1m])'),
    ],
)
def test_scope_query(query: str, want: str) -> None:
    assert scope_query(query, "n") == want


def test_a_query_that_cannot_be_read_is_refused() -> None:
    with pytest.raises(UserError, match="cannot confine PromQL"):
        scope_query("sum(", "n")
