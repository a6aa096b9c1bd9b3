"""Fixtures of the KServe and KubeRay operator checks (see docs/suites-operators.md)."""

from __future__ import annotations

from servegate.checks.operators.fixtures import operator_check, operator_ledger

__all__ = ["operator_check", "operator_ledger"]  # fixtures, made visible to this directory
