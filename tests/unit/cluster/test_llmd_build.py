"""llm-d-inference-sim's build recipe and cache, without compiling anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.cluster.node import images, llmdsim

UPSTREAM = "module github.com/llm-d/llm-d-inference-sim\n\ngo 1.25.7\n\nrequire (\n)\n"


def test_wrapper_requires_only_the_pinned_version_at_upstreams_go_version() -> None:
    text = llmdsim.wrapper_gomod(UPSTREAM)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines[1:] == ["go 1.25.7", f"require {llmdsim.MODULE} {llmdsim.VERSION}"]
    assert lines[0].startswith("module ") and llmdsim.MODULE not in lines[0]


def test_cached_needs_both_the_binary_and_the_licence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert llmdsim.cached() is None
    out = llmdsim.output_dir()
    assert out == tmp_path / "servegate" / "llmd-sim" / llmdsim.VERSION
    out.mkdir(parents=True)
    (out / llmdsim.BINARY).write_bytes(b"\x7fELF")
    assert llmdsim.cached() is None  # a binary without its licence is not a finished build
    (out / "LICENSE").write_text("Apache License\nVersion 2.0\n")
    got = llmdsim.cached()
    assert got is not None and got.binary == out / llmdsim.BINARY and got.cached


def test_image_is_tagged_with_the_module_version_and_runs_the_binary() -> None:
    assert f"servegate.local/llmd-sim:{llmdsim.VERSION}" == images.LLMD_SIM
    assert images.LLMD_SIM_CONFIG.entrypoint == [f"/{llmdsim.BINARY}"]
    assert list(images.LLMD_SIM_CONFIG.cmd) == ["--port", "8000", *llmdsim.SERVE_FLAGS]
    assert "llmd-sim" in images.BUILDERS and "llmd-sim" in images.WITH_PROGRESS
