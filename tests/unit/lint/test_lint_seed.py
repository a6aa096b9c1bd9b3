"""The manifests of the seed article, one file each, flagged with the right rules.

Files in seed/ are the article's manifests with only their indentation restored. Text
fragments that are not whole objects (a bare resources: block, an affinity: block, a spot
nodeSelector, a priorityClassName line) are not extracted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.lint import Finding, lint_paths, platforms

SEED = Path(__file__).parent / "seed"

# Each file linted on its own, default rules: the article's defects.
ALONE: dict[str, set[str]] = {
    # :latest, no readiness, 3 replicas, no governing Service.
    "01-statefulset-llm-server.yaml": {"SG201", "SG202", "SG404"},
    # Alone, an autoscaler's target is taken to live elsewhere; together it meets the wrong kind.
    "02-hpa-llm.yaml": set(),
    "03-pod-mig.yaml": {"SG201", "SG202"},
    "04-configmap-time-slicing.yaml": set(),
    "05-kserve-inferenceservice.yaml": set(),
    "06-vllm-service-deployment.yaml": {"SG201", "SG202", "SG402"},
    # Deprecated ray.io/v1alpha1, and its serveConfig field is not in the CRD schema.
    "07-rayservice.yaml": {"SG502", "SG504"},
    "08-vpa.yaml": {"SG306"},
    "09-configmap-priority-expander.yaml": {"SG603"},
    "10-keda-scaledobject.yaml": set(),
    "11-pvc-model-cache.yaml": set(),
    "12-networkpolicy.yaml": {"SG401"},
    "13-resourcequota.yaml": set(),
    "14-sealedsecret.yaml": set(),
    # Namespace without GPU quota, embedding server with liveness but no startup probe,
    # StatefulSet serviceName 'llm' with no such Service, shared RWX model storage.
    "15-rag-system.yaml": {"SG201", "SG202", "SG204", "SG404", "SG601", "SG602"},
    "16-pdb.yaml": {"SG304"},
    "17-priorityclass.yaml": set(),
    "18-servicemonitor.yaml": {"SG501"},
}  # fmt: skip

# What --advice adds: the article advises pinning GPU types ("Ensure models land on appropriate
# GPU types") and PodDisruptionBudgets, and its servers have no hang detection; none of it
# breaks its 7B models on one GPU, so these are advice, not defects.
ADVICE: dict[str, set[str]] = {
    "01-statefulset-llm-server.yaml": {"SG109", "SG203", "SG307"},
    "03-pod-mig.yaml": {"SG203"},  # a MIG profile names its size: no GPU model to pin
    "05-kserve-inferenceservice.yaml": {"SG109"},
    "06-vllm-service-deployment.yaml": {"SG109", "SG203", "SG307"},
    "15-rag-system.yaml": {"SG109", "SG203", "SG307"},
}


def test_seed_directory_is_the_expected_set_of_files() -> None:
    assert sorted(p.name for p in SEED.glob("*.yaml")) == sorted(ALONE)
    assert set(ADVICE) <= set(ALONE)


@pytest.mark.parametrize("name", sorted(ALONE))
def test_seed_manifest_alone(name: str) -> None:
    result = lint_paths([str(SEED / name)])
    assert result.errors == []
    assert {f.rule_id for f in result.findings} == ALONE[name]


@pytest.mark.parametrize("name", sorted(ALONE))
def test_seed_manifest_alone_with_advice(name: str) -> None:
    result = lint_paths([str(SEED / name)], advice=True)
    assert result.errors == []
    assert {f.rule_id for f in result.findings} == ALONE[name] | ADVICE.get(name, set())


def test_seed_gpu_pods_tolerate_no_taint() -> None:
    """The article never says its GPU nodes are tainted; where they are, SG103 says so."""
    with platforms.selected("generic", ["nvidia.com/gpu:NoSchedule"]):
        result = lint_paths([str(SEED)])
    tainted = {Path(f.file).name for f in result.findings if f.rule_id == "SG103"}
    assert tainted == {
        "01-statefulset-llm-server.yaml",
        "03-pod-mig.yaml",
        "05-kserve-inferenceservice.yaml",
        "06-vllm-service-deployment.yaml",
        "15-rag-system.yaml",
    }


def _by_file(findings: list[Finding]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(Path(f.file).name, set()).add(f.rule_id)
    return out


def test_seed_linted_together_resolves_cross_file_mistakes() -> None:
    """Together, the HPA and VPA aimed at 'Deployment llm-server' meet the StatefulSet."""
    result = lint_paths([str(SEED)])
    assert result.errors == []
    got = _by_file(result.findings)
    assert got["02-hpa-llm.yaml"] == {"SG302"}
    assert got["08-vpa.yaml"] == {"SG302", "SG306"}
    # The StatefulSet mounts the article's ReadWriteMany model-cache-pvc.
    assert got["01-statefulset-llm-server.yaml"] == ALONE["01-statefulset-llm-server.yaml"] | {
        "SG601"
    }
    # Nothing in the article is named llm-deployment.
    assert got["10-keda-scaledobject.yaml"] == {"SG301"}
    assert got["16-pdb.yaml"] == {"SG304"}


def test_seed_findings_point_at_the_offending_line() -> None:
    result = lint_paths([str(SEED / "18-servicemonitor.yaml"), str(SEED / "12-networkpolicy.yaml")])
    lines = {f.rule_id: (Path(f.file).name, f.line) for f in result.findings}
    text = (SEED / "18-servicemonitor.yaml").read_text().splitlines()
    name, line = lines["SG501"]
    assert name == "18-servicemonitor.yaml" and text[line - 1] == "apiVersion: v1"
    text = (SEED / "12-networkpolicy.yaml").read_text().splitlines()
    name, line = lines["SG401"]
    assert name == "12-networkpolicy.yaml" and text[line - 1].strip() == "policyTypes:"
