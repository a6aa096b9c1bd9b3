"""Fixtures of the pattern benchmarks (see docs/suites-benchmarks.md)."""

from __future__ import annotations

from servegate.checks.patterns.fixtures import pattern_table

__all__ = ["pattern_table"]
