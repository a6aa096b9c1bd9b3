"""Strict configuration models (profiles, SLOs, fleets, run settings) and their loaders."""
