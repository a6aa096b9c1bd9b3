"""The generated wrapper modules: every staging module replaced, versions stamped."""

from __future__ import annotations

import re

import pytest

from servegate.cluster import gomod
from servegate.cluster.versions import KUBERNETES_BINARIES, Versions, load_versions

UPSTREAM = """\
module k8s.io/kubernetes

go 1.23.0

godebug default=go1.23

require (
\tk8s.io/api v0.0.0
\tk8s.io/endpointslice v0.0.0
\tk8s.io/sample-apiserver v0.0.0
\tgithub.com/spf13/cobra v1.8.1
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/endpointslice => ./staging/src/k8s.io/endpointslice
\tk8s.io/sample-apiserver => ./staging/src/k8s.io/sample-apiserver
)
"""


@pytest.fixture
def versions() -> Versions:
    return Versions(
        kubernetes="v1.32.13",
        etcd="v3.5.21",
        etcd_module="go.etcd.io/etcd/server/v3",
        kwok="v0.7.0",
        kwok_module="sigs.k8s.io/kwok/cmd/kwok",
        staging_overrides={"k8s.io/endpointslice": "v0.32.12"},
        staging_stubs=("k8s.io/sample-apiserver",),
    )


def test_staging_modules_are_read_from_the_replace_lines() -> None:
    assert gomod.staging_modules(UPSTREAM) == [
        "k8s.io/api",
        "k8s.io/endpointslice",
        "k8s.io/sample-apiserver",
    ]
    with pytest.raises(ValueError, match="staging"):
        gomod.staging_modules("module x\n\ngo 1.22\n")


def test_wrapper_requires_kubernetes_and_replaces_every_staging_module(versions: Versions) -> None:
    files = gomod.kubernetes_wrapper(versions, UPSTREAM)
    mod = files["go.mod"]
    assert "require k8s.io/kubernetes v1.32.13" in mod
    assert "go 1.23.0" in mod and "godebug default=go1.23" in mod
    assert "\tk8s.io/api => k8s.io/api v0.32.13" in mod
    assert "\tk8s.io/endpointslice => k8s.io/endpointslice v0.32.12" in mod
    assert "\tk8s.io/sample-apiserver => ./stub/sample-apiserver" in mod
    assert files["stub/sample-apiserver/go.mod"].startswith("module k8s.io/sample-apiserver\n")
    # No replace line points inside the upstream repository.
    assert "./staging" not in mod
    assert files["doc.go"].rstrip().endswith("package build")


def test_ldflags_stamp_version_major_minor_and_strip(versions: Versions) -> None:
    flags = gomod.kubernetes_ldflags(versions.kubernetes)
    assert flags.startswith("-s -w ")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.32.13" in flags
        assert f"-X {pkg}.gitMajor=1" in flags
        assert f"-X {pkg}.gitMinor=32" in flags


def test_etcd_wrapper_calls_etcdmain(versions: Versions) -> None:
    files = gomod.etcd_wrapper(versions)
    assert "require go.etcd.io/etcd/server/v3 v3.5.21" in files["go.mod"]
    assert '"go.etcd.io/etcd/server/v3/etcdmain"' in files["main.go"]
    assert re.search(r"etcdmain\.Main\(os\.Args\)", files["main.go"])


def test_packages_cover_every_kubernetes_binary() -> None:
    pkgs = gomod.kubernetes_packages()
    assert pkgs == [f"k8s.io/kubernetes/cmd/{n}" for n in KUBERNETES_BINARIES]
    assert {"kubelet", "kube-proxy"} <= set(KUBERNETES_BINARIES)


def test_shipped_versions_are_consistent() -> None:
    v = load_versions()
    assert v.kubernetes.startswith("v1.") and v.minor in (31, 32)  # see docs/cluster.md
    assert v.staging_version == "v0." + v.kubernetes.split(".", 1)[1]
    for mod, pinned in v.staging_overrides.items():
        assert mod.startswith("k8s.io/")
        assert pinned.startswith(f"v0.{v.minor}.")  # same minor, only the patch may differ
    assert v.version_of("kubelet") == v.kubernetes and v.version_of("etcd") == v.etcd
    assert {"containerd", "coredns"} <= set(v.node)


def test_build_env_disables_cgo_and_toolchain_downloads() -> None:
    env = gomod.build_env({"PATH": "/usr/bin", "CGO_ENABLED": "1"})
    assert env["CGO_ENABLED"] == "0" and env["GOTOOLCHAIN"] == "local"
    assert env["PATH"] == "/usr/bin"
