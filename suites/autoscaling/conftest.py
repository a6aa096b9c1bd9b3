"""Fixtures of the autoscaling checks (see docs/suites-autoscaling.md)."""

from __future__ import annotations

from servegate.checks.autoscaling.fixtures import hpa, keda

__all__ = ["hpa", "keda"]
