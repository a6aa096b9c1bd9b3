"""The resilience checks' helpers and fixture, for the meta-tests that prove each can fail.

suites/resilience is not a package (pytest imports its modules by directory), so its
directory is put on sys.path here, once, for this directory's tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[3] / "suites" / "resilience"
if str(SUITE) not in sys.path:
    sys.path.insert(0, str(SUITE))

from resilience_env import resil  # noqa: E402

__all__ = ["resil"]  # the fixture, made visible to this directory
