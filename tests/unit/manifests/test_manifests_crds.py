"""Vendored CRDs: provenance recorded, digests match, drift detection works (offline).

The comparison with upstream itself (``scripts/vendor_crds.py --check``) needs the Go module
proxy and runs in CI, not here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from manifest_units import ROOT

CRDS = ROOT / "crds"


def load_script() -> ModuleType:
    path = ROOT.parent / "scripts" / "vendor_crds.py"
    spec = importlib.util.spec_from_file_location("vendor_crds", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["vendor_crds"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def vendor() -> ModuleType:
    return load_script()


def test_every_vendored_file_is_in_sources(vendor: ModuleType) -> None:
    sources = vendor.load_sources(CRDS)
    modules = {m for m, _, _ in sources}
    assert (
        len(modules) == 7
    )  # KServe, KubeRay, KEDA, VPA, prom-operator, sealed-secrets, cert-manager
    assert {Path(p).name for _, _, p in sources} == vendor.vendored_names(CRDS)


def test_digests_match_the_vendored_files() -> None:
    lines = (CRDS / "SHA256SUMS").read_text().splitlines()
    assert lines
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((CRDS / name).read_bytes()).hexdigest() == digest, name


def test_check_reports_drift(vendor: ModuleType, tmp_path: Path) -> None:
    upstream = {"a.yaml": b"kind: A\n", "b.yaml": b"kind: B\n"}
    vendor.write(tmp_path, upstream)
    assert vendor.check(tmp_path, upstream) == []
    (tmp_path / "a.yaml").write_bytes(b"kind: edited\n")
    (tmp_path / "stray.yaml").write_bytes(b"kind: C\n")
    diffs = vendor.check(tmp_path, upstream)
    assert diffs == [
        f"differs from upstream: {tmp_path / 'a.yaml'}",
        f"not in SOURCES.yaml: {tmp_path / 'stray.yaml'}",
    ]


def test_bad_sources_file_is_one_line(vendor: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "SOURCES.yaml").write_text("sources:\n  - module: x\n")
    with pytest.raises(vendor.VendorError) as err:
        vendor.load_sources(tmp_path)
    assert (
        str(err.value)
        == f"{tmp_path / 'SOURCES.yaml'}: sources[0] needs module, version, files[].path"
    )


def test_kustomization_lists_every_crd(vendor: ModuleType) -> None:
    import yaml

    listed = yaml.safe_load((CRDS / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(vendor.vendored_names(CRDS))
