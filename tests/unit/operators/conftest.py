"""Put suites/conformance/operators (not a package) on sys.path for the unit tests of its pure
parts: the Assess functions and the "operators" report section."""

from __future__ import annotations

import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[3] / "suites" / "conformance" / "operators"
if str(SUITE) not in sys.path:
    sys.path.insert(0, str(SUITE))
