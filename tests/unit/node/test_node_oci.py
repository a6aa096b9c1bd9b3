"""Hand-packed docker-archive tarballs: structure, digests and determinism."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from servegate.cluster.node.oci import FileEntry, ImageConfig, dir_layer, files_layer, write_archive
from servegate.errors import UserError


def _read(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_archive_manifest_config_and_layer_digests(tmp_path: Path) -> None:
    layer = files_layer([FileEntry("/bin/probe", b"\x7fELF-fake", 0o755)])
    out = tmp_path / "img.tar"
    image_id = write_archive("servegate.local/probe:1", [layer], ImageConfig(["/bin/probe"]), out)
    files = _read(out)
    (manifest,) = json.loads(files["manifest.json"])
    assert manifest["RepoTags"] == ["servegate.local/probe:1"]
    cfg_bytes = files[manifest["Config"]]
    assert hashlib.sha256(cfg_bytes).hexdigest() == image_id
    cfg = json.loads(cfg_bytes)
    assert cfg["config"]["Entrypoint"] == ["/bin/probe"]
    (layer_name,) = manifest["Layers"]
    assert cfg["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(files[layer_name]).hexdigest()}"]
    with tarfile.open(fileobj=__import__("io").BytesIO(files[layer_name])) as lt:
        names = {m.name: m for m in lt.getmembers()}
    assert names["bin"].isdir()
    assert names["bin/probe"].mode == 0o755 and names["bin/probe"].mtime == 0


def test_same_inputs_give_identical_bytes(tmp_path: Path) -> None:
    entries = [FileEntry("/b", b"2"), FileEntry("/a/x", b"1")]
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    write_archive("r.local/x:1", [files_layer(entries)], ImageConfig(["/b"]), a)
    write_archive("r.local/x:1", [files_layer(list(reversed(entries)))], ImageConfig(["/b"]), b)
    assert a.read_bytes() == b.read_bytes()
    c = tmp_path / "c.tar"
    write_archive("r.local/x:1", [files_layer([FileEntry("/b", b"3")])], ImageConfig(["/b"]), c)
    assert c.read_bytes() != a.read_bytes()


def test_dir_layer_keeps_links_and_skips_dev(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3.11").write_text("py")
    (root / "usr/bin/python3").symlink_to("python3.11")
    (root / "dev").mkdir()
    (root / "dev/null-ish").write_text("x")
    out = tmp_path / "layer.tar"
    dir_layer(root, out)
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["usr/bin/python3"].issym()
    assert members["usr/bin/python3"].linkname == "python3.11"
    assert "dev/null-ish" not in members
    assert [m for m in members.values() if m.uid or m.mtime] == []


def test_reference_without_tag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="explicit tag"):
        write_archive("servegate.local/sim", [b""], ImageConfig(["/x"]), tmp_path / "x.tar")
