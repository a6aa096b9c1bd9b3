"""Fixtures of the network isolation checks (see docs/suites-isolation.md)."""

from __future__ import annotations

from servegate.checks.isolation.fixtures import isolation, isolation_section

__all__ = ["isolation", "isolation_section"]  # fixtures, made visible to this directory
