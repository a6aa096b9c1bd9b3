"""Fixtures of the GPU allocation and placement checks (see docs/suites-gpu.md)."""

from __future__ import annotations

from servegate.checks.gpu.fixtures import gpu_cluster, gpu_ns, placed

__all__ = ["gpu_cluster", "gpu_ns", "placed"]  # fixtures, made visible to this directory
