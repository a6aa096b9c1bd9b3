"""Put suites/conformance/gpu (not a package) on sys.path for the unit tests of its pure parts."""

from __future__ import annotations

import sys
from pathlib import Path

GPU_SUITE = Path(__file__).resolve().parents[3] / "suites" / "conformance" / "gpu"
if str(GPU_SUITE) not in sys.path:
    sys.path.insert(0, str(GPU_SUITE))
