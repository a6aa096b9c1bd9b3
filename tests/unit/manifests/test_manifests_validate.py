"""Schema validation: built-in kinds, vendored CRDs, unknown kinds, versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from servegate.errors import UserError
from servegate.k8s.validate import Problem, supported_versions, validate_objects, vendored_kinds


def obj(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: vllm, namespace: ns}
spec:
  selector: {matchLabels: {app: vllm}}
  template:
    metadata: {labels: {app: vllm}}
    spec:
      containers: [{name: vllm, image: "vllm/vllm-openai:v0.11.0"}]
"""


def test_valid_builtin_object_has_no_problem() -> None:
    assert validate_objects([obj(DEPLOYMENT)]) == []


def test_builtin_wrong_type_and_unknown_field() -> None:
    d = obj(DEPLOYMENT)
    d["spec"]["replicas"] = "two"
    d["spec"]["template"]["spec"]["containers"][0]["imagee"] = "typo"
    problems = validate_objects([d])
    assert [(p.kind, p.name, p.namespace, p.path) for p in problems] == [
        ("Deployment", "vllm", "ns", "spec.replicas"),
        ("Deployment", "vllm", "ns", "spec.template.spec.containers[0]"),
    ]
    assert "'imagee' was unexpected" in problems[1].message
    assert str(problems[0]).startswith("ns/Deployment/vllm: spec.replicas: ")


def test_seed_servicemonitor_under_v1_is_unknown() -> None:
    seed = obj("apiVersion: v1\nkind: ServiceMonitor\nmetadata: {name: dcgm-exporter}\n")
    assert validate_objects([seed]) == [
        Problem(
            "ServiceMonitor", "dcgm-exporter", "", "apiVersion", "unknown kind ServiceMonitor in v1"
        )
    ]


def test_crd_object_checked_against_vendored_schema() -> None:
    sm = obj("""
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: vllm, labelz: {}}
spec:
  selector: {matchLabels: {app: vllm}}
  endpoints: [{port: http, interval: 15s, scrapeEvery: 1}]
""")
    paths = sorted(p.path for p in validate_objects([sm]))
    assert paths == ["metadata", "spec.endpoints[0]"]


def test_seed_rayservice_old_serveconfig_is_rejected() -> None:
    seed = obj("""
apiVersion: ray.io/v1alpha1
kind: RayService
metadata: {name: multi-model-service}
spec:
  serveConfig: {importPath: "multi_model:deployment"}
""")
    messages = [p.message for p in validate_objects([seed])]
    assert any("'serveConfig' was unexpected" in m for m in messages)


def test_crd_among_objects_is_used(tmp_path: Path) -> None:
    crd = obj("""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
""")
    good = obj("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}\n")
    bad = obj("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: x}\n")
    assert validate_objects([crd, good], crds_dir=tmp_path) == []
    assert [p.path for p in validate_objects([crd, bad], crds_dir=tmp_path)] == ["spec.size"]
    # Without the CRD (and with no vendored CRDs) the kind is unknown.
    assert [p.path for p in validate_objects([good], crds_dir=tmp_path)] == ["apiVersion"]


def test_objects_without_kind_are_problems() -> None:
    problems = validate_objects([{"metadata": {"name": "x"}}])
    assert [p.message for p in problems] == ["apiVersion and kind must be strings"]
    nameless = obj("apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\n")
    assert [(p.path, p.message) for p in validate_objects([nameless])] == [
        ("metadata.name", "required (or generateName)")
    ]


def test_k8s_versions() -> None:
    versions = supported_versions()
    assert "1.37.0" in versions
    assert validate_objects([obj(DEPLOYMENT)], k8s_version=versions[0]) == []
    with pytest.raises(UserError, match="no bundled schema"):
        validate_objects([obj(DEPLOYMENT)], k8s_version="9.99")
    with pytest.raises(UserError, match=r"is not like 1\.37"):
        validate_objects([obj(DEPLOYMENT)], k8s_version="latest")


def test_vendored_kinds_cover_the_reference_crds() -> None:
    kinds = vendored_kinds()
    for gvk in [
        ("serving.kserve.io", "v1beta1", "InferenceService"),
        ("ray.io", "v1", "RayService"),
        ("keda.sh", "v1alpha1", "ScaledObject"),
        ("autoscaling.k8s.io", "v1", "VerticalPodAutoscaler"),
        ("monitoring.coreos.com", "v1", "ServiceMonitor"),
        ("monitoring.coreos.com", "v1", "PrometheusRule"),
        ("bitnami.com", "v1alpha1", "SealedSecret"),
        ("cert-manager.io", "v1", "ClusterIssuer"),
    ]:
        assert gvk in kinds
