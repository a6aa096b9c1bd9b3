"""The operator checks' helpers, for the meta-tests that prove the admission check can fail.

suites/conformance/operators is not a package (pytest imports its modules by directory), so
its directory is put on sys.path here, once, for this directory's tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[3] / "suites" / "conformance" / "operators"
if str(SUITE) not in sys.path:
    sys.path.insert(0, str(SUITE))
