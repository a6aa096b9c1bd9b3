"""servegate's suites: specifications run with `pytest suites/` (see docs/architecture.md)."""
