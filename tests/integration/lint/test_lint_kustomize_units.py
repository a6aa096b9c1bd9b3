"""Lint real kustomize units (the pinned kubectl's kustomize runs as a local process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.lint import lint_paths

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
# The image line is what the finding must point at.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx
"""


def test_findings_in_a_prefixed_overlay_point_at_the_base_source(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    (base / "deployment.yaml").write_text(DEPLOYMENT)
    overlay = tmp_path / "overlays" / "prod"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(
        "resources:\n  - ../../base\nnamePrefix: prod-\nnamespace: serving\n"
    )
    result = lint_paths([str(overlay)])
    assert result.errors == []
    (finding,) = result.findings
    assert finding.rule_id == "SG201"
    assert finding.object_ref == "serving/Deployment/prod-web"
    assert Path(finding.file) == base / "deployment.yaml"
    assert finding.line == 15
    assert finding.unit == str(overlay)


def test_a_unit_that_does_not_build_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    result = lint_paths([str(tmp_path)])
    assert result.objects == 0 and len(result.errors) == 1
    assert result.errors[0].startswith(str(tmp_path)) and "\n" not in result.errors[0]
