"""The suites. Fixtures and options come from servegate's pytest plugin (fixtures/)."""
