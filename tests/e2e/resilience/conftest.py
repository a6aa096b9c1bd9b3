"""The resilience checks' fixture, for the meta-tests that prove each check can fail."""

from __future__ import annotations

from servegate.checks.resilience.fixtures import resil

__all__ = ["resil"]  # the fixture, made visible to this directory
