"""Availability and resilience checks: a PodDisruptionBudget under evictions, and a rolling
update, a canary and a rollback of a new model version under steady load
(suites/resilience, docs/suites-resilience.md)."""
