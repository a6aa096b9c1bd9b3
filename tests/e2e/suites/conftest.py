"""The GPU checks' own helpers and fixtures, for the meta-tests that prove each can fail.

suites/conformance/gpu is not a package (pytest imports its modules by directory), so its
directory is put on sys.path here, once, for this directory's tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

GPU_SUITE = Path(__file__).resolve().parents[3] / "suites" / "conformance" / "gpu"
if str(GPU_SUITE) not in sys.path:
    sys.path.insert(0, str(GPU_SUITE))

from gpu_env import gpu_cluster, gpu_ns  # noqa: E402

__all__ = ["gpu_cluster", "gpu_ns"]  # fixtures, made visible to this directory
