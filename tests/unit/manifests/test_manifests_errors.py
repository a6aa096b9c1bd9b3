"""Broken input gives one line naming the file or directory, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli.render import render
from servegate.k8s.render import (
    RenderError,
    manifests_root,
    parse_objects,
    render_unit,
    resolve_unit,
)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_missing_resource_names_the_unit(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(RenderError) as err:
        render_unit(tmp_path)
    msg = one_line(err.value)
    assert msg.startswith(f"{tmp_path}: kustomize build failed")
    assert "missing.yaml" in msg


def test_unparseable_resource_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - bad.yaml\n")
    (tmp_path / "bad.yaml").write_text("kind: ConfigMap\nmetadata:\n  name: x\n data: [\n")
    with pytest.raises(RenderError) as err:
        render_unit(tmp_path)
    assert "bad.yaml" in one_line(err.value)


def test_unparseable_kustomization_names_it(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [\n")
    with pytest.raises(RenderError) as err:
        render_unit(tmp_path)
    assert one_line(err.value).startswith(f"{tmp_path / 'kustomization.yaml'}: ")


def test_unknown_kustomization_field(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nresource: [a.yaml]\n")
    with pytest.raises(RenderError) as err:
        render_unit(tmp_path)
    assert '"resource"' in one_line(err.value)


def test_directory_without_kustomization(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as err:
        render_unit(tmp_path)
    assert one_line(err.value) == f"{tmp_path}: no kustomization.yaml in this directory"


def test_garbage_output_is_classified() -> None:
    with pytest.raises(RenderError) as err:
        parse_objects("a: 1\n---\n- just\n- a list\n", "out.yaml")
    assert one_line(err.value) == "out.yaml: document 1 is not a Kubernetes object"
    with pytest.raises(RenderError) as err2:
        parse_objects("kind: X\n  bad: [\n", "out.yaml")
    assert one_line(err2.value).startswith("out.yaml:2: ")


def test_unknown_unit_and_overlay() -> None:
    with pytest.raises(RenderError, match="no-such-unit: no such unit directory"):
        resolve_unit("no-such-unit")
    with pytest.raises(RenderError, match="has no overlay 'nope'"):
        resolve_unit("vllm-statefulset", "nope")
    with pytest.raises(RenderError, match=r"pick an overlay with --overlay \(engine, gpu, sim\)"):
        resolve_unit("vllm-statefulset")


def test_cli_prints_the_golden_render() -> None:
    result = CliRunner().invoke(render, ["vllm-statefulset", "--overlay", "sim", "--validate"])
    assert result.exit_code == 0, result.output
    golden = (manifests_root() / "vllm-statefulset/golden/sim.yaml").read_text()
    assert result.output == golden


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [\n")
    result = CliRunner().invoke(render, [str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ") and "kustomization.yaml" in lines[0]


def test_cli_validate_reports_problems(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [sm.yaml]\n")
    (tmp_path / "sm.yaml").write_text(
        "apiVersion: v1\nkind: ServiceMonitor\nmetadata:\n  name: dcgm-exporter\n"
    )
    result = CliRunner().invoke(render, [str(tmp_path), "--validate"])
    assert result.exit_code == 1
    assert "ServiceMonitor/dcgm-exporter: apiVersion: unknown kind ServiceMonitor in v1" in (
        result.output
    )
