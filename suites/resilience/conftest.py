"""Fixtures of the availability and resilience checks (see docs/suites-resilience.md)."""

from __future__ import annotations

from servegate.checks.resilience.fixtures import resil

__all__ = ["resil"]  # the fixture, made visible to this directory
