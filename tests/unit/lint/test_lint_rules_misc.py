"""Behaviour shared by rules: suppression, the model-server override, CRDs in the set."""

from __future__ import annotations

from servegate.lint import lint_paths

WIDGET = """\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
"""
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {annotations}
spec:
  containers:
    - name: app
      image: {image}
"""


def rules(text: str, advice: bool = False) -> set[str]:
    result = lint_paths(["-"], stdin_text=text, advice=advice)
    assert result.errors == []
    return {f.rule_id for f in result.findings}


def test_crd_in_the_set_makes_its_kind_known() -> None:
    assert rules(WIDGET) == {"SG503"}
    assert rules(CRD + "---\n" + WIDGET) == set()
    assert rules(CRD + "---\n" + WIDGET.replace("/v1", "/v2")) == {"SG501"}


def test_model_server_override_annotation() -> None:
    plain = POD.format(annotations="{}", image="example/app:1")
    assert rules(plain) == set()  # not a model server: no probe rules
    marked = POD.format(annotations='{servegate.dev/model-server: "true"}', image="example/app:1")
    assert rules(marked) == {"SG202"}
    assert rules(marked, advice=True) == {"SG202", "SG203"}
    unmarked = POD.format(annotations='{servegate.dev/model-server: "false"}', image="vllm/x:1")
    assert rules(unmarked) == set()


def test_ignore_all_annotation_suppresses_and_counts() -> None:
    text = POD.format(annotations='{servegate.dev/lint-ignore: "all"}', image="vllm/x:latest")
    result = lint_paths(["-"], stdin_text=text, advice=True)
    assert result.findings == [] and result.suppressed == 3  # SG201, SG202, SG203
