"""Binary resolution order, the cache layout and the offline download fall-through."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from servegate.cluster import binaries, download
from servegate.cluster.binaries import BinaryResolver
from servegate.cluster.versions import load_versions
from servegate.errors import UserError


def _exe(path: Path, body: bytes = b"#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SERVEGATE_OFFLINE", "1")
    for name in ("etcd", "kube-apiserver", "kubectl", "kwok"):
        monkeypatch.delenv(binaries.env_var(name), raising=False)


def test_cache_path_honours_xdg_cache_home(tmp_path: Path) -> None:
    v = load_versions()
    assert binaries.cached_path("kubelet", v.kubernetes) == (
        tmp_path / "cache" / "servegate" / "bin" / f"kubelet-{v.kubernetes}"
    )


def test_explicit_beats_bin_dir_beats_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = load_versions()
    cached = _exe(binaries.cached_path("etcd", v.etcd))
    resolver = BinaryResolver(v, bin_dir=tmp_path / "bins")
    hit = resolver.lookup("etcd")
    assert hit is not None and (hit.source, hit.path) == ("cache", cached)
    in_dir = _exe(tmp_path / "bins" / "etcd")
    hit = resolver.lookup("etcd")
    assert hit is not None and (hit.source, hit.path) == ("explicit", in_dir)
    explicit = _exe(tmp_path / "my-etcd")
    monkeypatch.setenv("SERVEGATE_BIN_ETCD", str(explicit))
    hit = resolver.lookup("etcd")
    assert hit is not None and (hit.source, hit.path) == ("explicit", explicit)


def test_explicit_path_that_is_not_executable_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVEGATE_BIN_KWOK", str(tmp_path / "missing"))
    with pytest.raises(UserError, match=r"SERVEGATE_BIN_KWOK=.*not an executable"):
        BinaryResolver(load_versions()).lookup("kwok")


def test_missing_binaries_without_build_name_them_and_the_next_step() -> None:
    resolver = BinaryResolver(load_versions(), allow_build=False)
    with pytest.raises(UserError) as err:
        resolver.resolve_all(["etcd", "kwok"])
    assert "missing binaries: etcd, kwok" in str(err.value)
    assert "servegate cluster build" in str(err.value)


def test_offline_never_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise AssertionError("download attempted while offline")

    monkeypatch.setattr(download, "fetch", boom)
    resolver = BinaryResolver(load_versions(), allow_build=False)
    assert resolver.allow_download is False
    with pytest.raises(UserError):
        resolver.resolve_all(["kube-apiserver"])


def test_failed_download_disables_further_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVEGATE_OFFLINE")
    calls: list[str] = []

    def unreachable(asset: download.ReleaseAsset, dest: Path, timeout: float = 0) -> None:
        calls.append(asset.url)
        raise download.DownloadError("no route")

    monkeypatch.setattr(download, "fetch", unreachable)
    resolver = BinaryResolver(load_versions(), allow_build=False)
    with pytest.raises(UserError, match="missing binaries: kube-apiserver, kube-scheduler"):
        resolver.resolve_all(["kube-apiserver", "kube-scheduler"])
    assert len(calls) == 1


def test_release_assets_point_at_checksummed_official_files() -> None:
    v = load_versions()
    k8s = download.release_asset("kubelet", v, arch="amd64")
    assert k8s is not None
    assert k8s.url == f"https://dl.k8s.io/release/{v.kubernetes}/bin/linux/amd64/kubelet"
    assert k8s.sha256_url == k8s.url + ".sha256"
    etcd = download.release_asset("etcd", v, arch="amd64")
    assert etcd is not None and etcd.member == f"etcd-{v.etcd}-linux-amd64/etcd"
    assert download.release_asset("kwok", v) is None


def test_fetch_verifies_the_checksum(tmp_path: Path) -> None:
    payload = b"\x7fELF fake binary"
    src = tmp_path / "kubelet"
    src.write_bytes(payload)
    good = tmp_path / "kubelet.sha256"
    good.write_text(hashlib.sha256(payload).hexdigest())
    dest = tmp_path / "out" / "kubelet-v1"
    download.fetch(download.ReleaseAsset(src.as_uri(), good.as_uri()), dest)
    assert dest.read_bytes() == payload and os.access(dest, os.X_OK)
    bad = tmp_path / "bad.sha256"
    bad.write_text("0" * 64)
    dest2 = tmp_path / "out" / "kubelet-v2"
    with pytest.raises(download.DownloadError, match="checksum mismatch"):
        download.fetch(download.ReleaseAsset(src.as_uri(), bad.as_uri()), dest2)
    assert not dest2.exists()


def test_sha256sums_lists_are_parsed_by_file_name() -> None:
    sums = f"{'a' * 64}  etcd-v3-linux-arm64.tar.gz\n{'b' * 64}  etcd-v3-linux-amd64.tar.gz\n"
    assert download.expected_sha256(sums, "etcd-v3-linux-amd64.tar.gz") == "b" * 64
    with pytest.raises(download.DownloadError, match="no checksum"):
        download.expected_sha256(sums, "other")
