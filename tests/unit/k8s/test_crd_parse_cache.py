"""Vendored CRDs are parsed once per content and kept as JSON in the user cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.k8s import validate

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, properties: {size: {type: integer}}}}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "servegate" / "crd-json"


def test_a_parse_is_cached_by_content_and_a_changed_file_is_parsed_again(
    tmp_path: Path, cache: Path
) -> None:
    crd = tmp_path / "widgets.yaml"
    crd.write_text(CRD)
    first = validate._parsed(crd)
    (entry,) = cache.glob("*.json")
    assert validate._parsed(crd) == first  # read back from the cache entry
    crd.write_text(CRD.replace("integer", "string"))
    changed = validate._parsed(crd)
    assert changed != first and len(list(cache.glob("*.json"))) == 2
    assert entry.exists()


def test_a_damaged_cache_entry_only_costs_a_parse(tmp_path: Path, cache: Path) -> None:
    crd = tmp_path / "widgets.yaml"
    crd.write_text(CRD)
    want = validate._parsed(crd)
    (entry,) = cache.glob("*.json")
    entry.write_text("{not json")
    assert validate._parsed(crd) == want


def test_an_unwritable_cache_does_not_stop_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the cache dir would be
    crd = tmp_path / "widgets.yaml"
    crd.write_text(CRD)
    assert validate._parsed(crd)[0]["kind"] == "CustomResourceDefinition"
