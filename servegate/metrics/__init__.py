"""Request records and the figures computed from them (see docs/metrics.md)."""
