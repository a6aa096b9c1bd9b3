"""How many examples each fuzz test draws: small by default, so the whole fuzz set stays
within about 30 s of ``make test`` on the project's 2-core machine; twenty times as many
under the ``servegate-deep`` profile (see tests/unit/conftest.py)."""

from __future__ import annotations

import os

DEEP = os.environ.get("SERVEGATE_HYPOTHESIS_PROFILE") == "servegate-deep"


def examples(n: int) -> int:
    """The number of examples of a fuzz test whose default budget is ``n``."""
    return n * 20 if DEEP else n
