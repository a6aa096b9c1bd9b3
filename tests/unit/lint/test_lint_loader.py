"""Loading PATHs: positions, multi-document files, stdin, kustomize units, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from servegate.k8s.render import RenderError
from servegate.lint import lint_paths
from servegate.lint.loader import load_paths

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
    - name: main
      image: {image}
"""


def test_multi_document_file_keeps_lines_per_document_and_field(tmp_path: Path) -> None:
    path = tmp_path / "pods.yaml"
    path.write_text(
        POD.format(name="a", image="busybox:1.37") + "---\n" + POD.format(name="b", image="busybox")
    )
    loaded = load_paths([str(path)])
    assert loaded.errors == []
    (objects,) = [s.objects for s in loaded.sets]
    assert [o.name for o in objects] == ["a", "b"]
    assert [o.line for o in objects] == [1, 10]
    b = objects[1]
    assert b.line_of(("spec", "containers", 0, "image")) == 17
    # A path that does not exist falls back to its deepest existing prefix.
    assert b.line_of(("spec", "containers", 0, "readinessProbe", "httpGet")) == 16
    result = lint_paths([str(path)])
    assert [(f.rule_id, f.line) for f in result.findings] == [("SG201", 17)]


def test_list_kind_is_expanded(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    items = POD.format(name="a", image="busybox").replace("\n", "\n    ")
    path.write_text(f"apiVersion: v1\nkind: List\nitems:\n  - {items}\n")
    (objects,) = [s.objects for s in load_paths([str(path)]).sets]
    assert [o.kind for o in objects] == ["Pod"]
    assert objects[0].line_of(("spec", "containers", 0, "image")) == 11


def test_stdin_is_read_for_dash() -> None:
    result = lint_paths(["-"], stdin_text=POD.format(name="a", image="busybox:latest"))
    assert [(f.file, f.rule_id) for f in result.findings] == [("<stdin>", "SG201")]


def test_broken_yaml_is_one_line_naming_the_file_and_the_rest_is_linted(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Pod\nmetadata: [unclosed\n")
    (tmp_path / "good.yaml").write_text(POD.format(name="a", image="busybox"))
    result = lint_paths([str(tmp_path)])
    assert len(result.errors) == 1
    assert result.errors[0].startswith(f"{tmp_path / 'bad.yaml'}:")
    assert "\n" not in result.errors[0]
    assert [f.rule_id for f in result.findings] == ["SG201"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- just\n- a list\n", "not a Kubernetes object"),
        ("kind: Pod\nmetadata: {name: x}\n", "has no 'apiVersion'"),
        ("\xff\xfe", "cannot read"),
    ],
)
def test_non_objects_in_a_named_file_are_reported(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(text.encode("latin-1"))
    loaded = load_paths([str(path)])
    assert len(loaded.errors) == 1 and needle in loaded.errors[0] and str(path) in loaded.errors[0]


def test_scanned_directory_skips_yaml_that_holds_no_object(tmp_path: Path) -> None:
    (tmp_path / "SOURCES.yaml").write_text("sources:\n  - url: x\n")
    (tmp_path / "pod.yml").write_text(POD.format(name="a", image="busybox:1"))
    (tmp_path / "notes.txt").write_text("kind: Pod\n")
    loaded = load_paths([str(tmp_path)])
    assert loaded.errors == [] and loaded.object_count == 1


def test_missing_path_is_an_error() -> None:
    loaded = load_paths(["/nonexistent/servegate-lint"])
    assert loaded.errors == ["/nonexistent/servegate-lint: no such file or directory"]
    assert loaded.sets == []


def _unit(tmp_path: Path) -> Path:
    base = tmp_path / "app" / "base"
    base.mkdir(parents=True)
    (base / "kustomization.yaml").write_text("resources:\n  - pod.yaml\n")
    (base / "pod.yaml").write_text("# header\n" + POD.format(name="web", image="busybox"))
    overlay = tmp_path / "app" / "overlays" / "gpu"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources:\n  - ../../base\nnamePrefix: gpu-\n")
    return overlay


def test_kustomize_unit_objects_map_back_to_their_source_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlay = _unit(tmp_path)
    rendered: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "gpu-web"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        }
    ]
    calls: list[Path] = []

    def fake_render(path: Path) -> list[dict[str, Any]]:
        calls.append(path)
        return rendered

    monkeypatch.setattr("servegate.k8s.render.render_unit", fake_render)
    result = lint_paths([str(tmp_path / "app")])
    # Both the base and the overlay are units; each is rendered once and linted on its own.
    assert sorted(p.name for p in calls) == ["base", "gpu"]
    assert {f.unit for f in result.findings} == {str(tmp_path / "app/base"), str(overlay)}
    for finding in result.findings:
        assert finding.file == str(tmp_path / "app/base/pod.yaml")
        assert finding.line == 9  # the image line, below the header comment


def test_kustomize_failure_is_one_line_and_other_inputs_still_lint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlay = _unit(tmp_path)

    def broken(path: Path) -> list[dict[str, Any]]:
        raise RenderError(f"{path}: kustomize build failed: accumulating resources")

    monkeypatch.setattr("servegate.k8s.render.render_unit", broken)
    other = tmp_path / "pod.yaml"
    other.write_text(POD.format(name="a", image="busybox"))
    result = lint_paths([str(overlay), str(other)])
    assert result.errors == [f"{overlay}: kustomize build failed: accumulating resources"]
    assert [f.rule_id for f in result.findings] == ["SG201"]
