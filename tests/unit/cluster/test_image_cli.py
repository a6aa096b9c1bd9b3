"""``servegate cluster image NAME --out FILE``: an archive for a foreign cluster's owners."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from servegate.cli import cli
from servegate.cluster.node import images, oci


def test_writes_the_archive_with_its_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = tmp_path / "cache" / "ray.tar"
    cached.parent.mkdir()
    layer = oci.files_layer([oci.FileEntry("/etc/hello", b"hello\n", 0o644)])
    oci.write_archive(images.RAY, [layer], oci.ImageConfig(entrypoint=["/bin/true"]), cached)
    asked = []

    def build(name: str, progress: object = None) -> images.Built:
        asked.append(name)
        return images.Built(images.RAY, cached, True, 0.0)

    monkeypatch.setattr(images, "build", build)
    out = tmp_path / "owners" / "ray.tar"
    res = CliRunner().invoke(cli, ["cluster", "image", "ray", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert asked == ["ray"] and f"{images.RAY} -> {out}" in res.output
    with tarfile.open(out) as tar:  # read as an importer does: manifest.json names the tag
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [images.RAY]
    assert not out.with_name("ray.tar.part").exists()


def test_unknown_image_and_a_directory_are_one_line_errors(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["cluster", "image", "nope", "--out", str(tmp_path / "x.tar")])
    assert res.exit_code == 1
    (line,) = [ln for ln in res.output.splitlines() if ln.strip()]
    assert line.startswith("Error: no local image 'nope'") and "ray" in line
    res = CliRunner().invoke(cli, ["cluster", "image", "ray", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "is a directory" in res.output
