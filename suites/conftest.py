"""The suites. Fixtures and options come from servegate's pytest plugin (fixtures/).

The operator checks' fixtures live here, not in suites/conformance/operators: the Ray Serve
pattern benchmark (suites/benchmark/patterns) records into the same session-wide operators
ledger, and a session fixture defined in two conftest files would be two ledgers.
"""

from __future__ import annotations

from servegate.checks.operators.fixtures import operator_check, operator_ledger

__all__ = ["operator_check", "operator_ledger"]  # fixtures, made visible to every suite
