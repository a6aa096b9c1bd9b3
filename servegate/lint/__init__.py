"""Static GenAI-serving conformance checks on Kubernetes manifests (``servegate lint``).

Public surface: :func:`lint_paths`, :func:`lint_sets`, :data:`REGISTRY` and the types
:class:`Finding`, :class:`Rule` and :class:`Severity`.
"""

from servegate.lint.engine import LintResult, lint_paths, lint_sets
from servegate.lint.model import REGISTRY, Finding, K8sObject, Rule, Severity

__all__ = [
    "REGISTRY",
    "Finding",
    "K8sObject",
    "LintResult",
    "Rule",
    "Severity",
    "lint_paths",
    "lint_sets",
]
