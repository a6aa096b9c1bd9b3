"""Hypothesis settings for the unit tier (property tests and the fuzz set in fuzz/).

``servegate`` (the default): the same examples on every run (derandomized, so ``make test``
cannot fail by luck) and no per-example deadline (a deadline is a timing assertion that a
loaded machine breaks). ``servegate-deep``: fresh random examples and twenty times as many,
for a longer hunt: ``SERVEGATE_HYPOTHESIS_PROFILE=servegate-deep pytest tests/unit/fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "servegate",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "servegate-deep",
    parent=settings.get_profile("servegate"),
    derandomize=False,
    database=None,
)
settings.load_profile(os.environ.get("SERVEGATE_HYPOTHESIS_PROFILE", "servegate"))
