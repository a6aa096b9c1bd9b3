"""Put suites/conformance/isolation (not a package) on sys.path for the unit tests of its pure
parts: the truth tables and the scenario's expectations and policy transforms."""

from __future__ import annotations

import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[3] / "suites" / "conformance" / "isolation"
if str(SUITE) not in sys.path:
    sys.path.insert(0, str(SUITE))
