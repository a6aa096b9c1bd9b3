"""The isolation requirement and the policy transforms, against the rendered reference unit."""

from __future__ import annotations

from typing import Any

import pytest

from servegate.checks.isolation import scenario as sc
from servegate.k8s.render import render_unit, resolve_unit


@pytest.fixture(scope="module")
def unit() -> list[dict[str, Any]]:
    return render_unit(resolve_unit("vllm-deployment", "sim"))


def test_model_server_pod_carries_the_labels_the_policy_selects(unit: list[dict[str, Any]]) -> None:
    labels = sc.model_server_labels(unit)
    selector = sc.reference_policy(unit)["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items()
    gateway_peer = sc.reference_policy(unit)["spec"]["ingress"][0]["from"][0]["podSelector"]
    assert gateway_peer["matchLabels"] == sc.GATEWAY_LABELS


def test_requirement_without_policy_is_all_open(unit: list[dict[str, Any]]) -> None:
    t = sc.expected(sc.pods(sc.model_server_labels(unit)), policy_applied=False)
    assert t.judged() and all(t.cells.values())


def test_requirement_with_policy(unit: list[dict[str, Any]]) -> None:
    t = sc.expected(sc.pods(sc.model_server_labels(unit)), policy_applied=True)
    model = "a/model-server"
    into_model = {r: t.get(r, f"{model}:8000") for r in t.rows if r != model}
    assert into_model == {
        "a/api-gateway": True,
        "a/other": False,
        "b/api-gateway": False,
        "b/other": False,
    }
    assert not any(t.get(r, f"{model}:9090") for r in t.rows if r != model)
    assert not any(t.get(model, c) for c in t.cols if c != sc.DNS and (model, c) in t.cells)
    assert all(t.get(r, sc.DNS) for r in t.rows)
    assert t.get("b/other", "a/other:8000") is True  # bystanders untouched


def test_adapt_dns_adds_ip_blocks_only_to_rules_aimed_at_kube_dns(
    unit: list[dict[str, Any]],
) -> None:
    policy = sc.reference_policy(unit)
    adapted, notes = sc.adapt_dns(policy, ["10.244.0.1"])
    dns_rule, https_rule = adapted["spec"]["egress"]
    assert {"ipBlock": {"cidr": "10.244.0.1/32"}} in dns_rule["to"]
    assert https_rule == policy["spec"]["egress"][1]
    assert len(notes) == 1 and "10.244.0.1" in notes[0]
    assert policy["spec"]["egress"][0] != dns_rule  # the input is not modified
    assert sc.adapt_dns(policy, []) == (policy, [])


def test_without_dns_keeps_egress_but_drops_the_dns_rule(unit: list[dict[str, Any]]) -> None:
    broken = sc.without_dns(sc.reference_policy(unit))
    assert "Egress" in broken["spec"]["policyTypes"]
    assert all("kube-dns" not in str(rule.get("to")) for rule in broken["spec"]["egress"])
    assert sc.adapt_dns(broken, ["10.244.0.1"])[1] == []  # nothing to adapt: DNS stays cut


def test_admits_everyone_opens_ingress_to_all_namespaces(unit: list[dict[str, Any]]) -> None:
    broken = sc.admits_everyone(sc.reference_policy(unit))
    assert broken["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {}}]
    assert broken["metadata"]["name"] != sc.reference_policy(unit)["metadata"]["name"]


def test_pod_columns_are_every_column_but_dns() -> None:
    cols = sc.pod_columns(sc.pods({"app": "m"}))
    assert cols[:3] == ["a/api-gateway:8000", "a/model-server:8000", "a/model-server:9090"]
    assert sc.DNS not in cols and len(cols) == len(sc.targets(sc.pods({}))) - 1


def test_self_cells_are_not_judged() -> None:
    assert sc.is_self("a/model-server", "a/model-server:9090")
    assert not sc.is_self("a/model-server", "a/other:8000")
    assert not sc.is_self("a/model-server", sc.DNS)


def test_canary_denies_all_ingress_to_the_selected_pods() -> None:
    p = sc.deny_all_ingress({"app": "x"})
    assert p["spec"] == {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress"]}


def test_missing_parts_of_a_unit_are_named() -> None:
    with pytest.raises(LookupError, match="NetworkPolicy"):
        sc.reference_policy([])
    with pytest.raises(LookupError, match="model-server workload"):
        sc.model_server_labels([{"kind": "Service"}])
