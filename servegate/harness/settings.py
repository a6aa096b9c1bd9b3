"""The run's settings, as the plugin parsed them from options and SERVEGATE_* variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    cluster: str
    kubeconfig: str | None
    context: str | None
    allowed_contexts: tuple[str, ...]
    endpoint: str | None
    results_root: Path
    run_id: str
    sim_config: str | None = None
    sweep_orphans: bool = False
    cluster_explicit: bool = False
    fleet: Path | None = None
    overlay: str = "sim"
    keep_cluster: bool = False
