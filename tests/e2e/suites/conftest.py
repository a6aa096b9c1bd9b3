"""The GPU checks' fixtures, for the meta-tests that prove each can fail."""

from __future__ import annotations

from servegate.checks.gpu.fixtures import gpu_cluster, gpu_ns

__all__ = ["gpu_cluster", "gpu_ns"]  # fixtures, made visible to this directory
