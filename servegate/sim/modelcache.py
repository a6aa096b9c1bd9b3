"""Simulated model download into a cache directory, so cold starts differ with and without it.

A real server's cold start is download (skipped when the weights are already in its cache
volume) plus load. The simulator reproduces that shape: a start that finds the completion
marker of its model in ``model_cache`` only loads (``startup_delay_s``); any other start first
"downloads" (``download_delay_s``) and then writes the marker, so the next pod that mounts the
same directory finds it. A start killed mid-download leaves no marker, as a partial download
leaves no usable weights.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from servegate.errors import ConfigError

MARKER = ".servegate-model-complete"


def model_dir(cache: Path, model_name: str) -> Path:
    """Where the model's files would live in the cache (Hugging Face style ``models--a--b``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "--", model_name).strip("-.") or "model"
    return cache / f"models--{safe}"


@dataclass(frozen=True)
class StartPlan:
    """How this start spends its time before serving, and where it records the download."""

    download_s: float
    load_s: float
    cache_hit: bool
    marker: Path | None  # None: no cache directory, nothing to record

    @property
    def total_s(self) -> float:
        return self.download_s + self.load_s

    def describe(self) -> str:
        if self.marker is None:
            return f"no model cache: download {self.download_s:g} s, load {self.load_s:g} s"
        where = self.marker.parent
        if self.cache_hit:
            return f"model cache hit in {where}: load {self.load_s:g} s"
        return (
            f"model cache miss in {where}: download {self.download_s:g} s, load {self.load_s:g} s"
        )

    def complete_download(self, model_name: str) -> None:
        """Write the marker (atomically: a reader never sees half of it)."""
        if self.marker is None or self.cache_hit:
            return
        tmp = self.marker.with_name(f"{MARKER}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"model": model_name, "completed_unix": time.time()}) + "\n")
        os.replace(tmp, self.marker)


def plan_start(cache: str | None, model_name: str, download_s: float, load_s: float) -> StartPlan:
    """Decide this start's download and load; raises :class:`ConfigError` on an unusable cache."""
    if not cache:
        return StartPlan(download_s, load_s, cache_hit=False, marker=None)
    directory = model_dir(Path(cache), model_name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        writable = os.access(directory, os.W_OK)
    except OSError as exc:
        raise ConfigError(
            f"model_cache {cache}: cannot create {directory}: {exc.strerror}"
        ) from None
    if not writable:
        raise ConfigError(f"model_cache {cache}: {directory} is not writable")
    marker = directory / MARKER
    if marker.is_file():
        return StartPlan(0.0, load_s, cache_hit=True, marker=marker)
    return StartPlan(download_s, load_s, cache_hit=False, marker=marker)


__all__ = ["MARKER", "StartPlan", "model_dir", "plan_start"]
