"""Results directory -> summary.json, report.md, report.html (and sketches.json).

Public surface: :func:`write_report` (called by the runner at the end of a run),
:func:`load_summary`, :func:`print_summary` and :class:`RunMeta` (the run.json model).
"""

from __future__ import annotations

from servegate.metrics.run_meta import RunMeta, Span, Stage, load_run_meta, write_run_meta
from servegate.metrics.summary import Summary
from servegate.report.console import print_summary
from servegate.report.writer import load_summary, write_report

__all__ = [
    "RunMeta",
    "Span",
    "Stage",
    "Summary",
    "load_run_meta",
    "load_summary",
    "print_summary",
    "write_report",
    "write_run_meta",
]
