"""Fixtures of the KServe and KubeRay operator checks (see docs/suites-operators.md)."""

from __future__ import annotations

from operators_env import need_operator, operator_ledger

__all__ = ["need_operator", "operator_ledger"]  # fixtures, made visible to this directory
