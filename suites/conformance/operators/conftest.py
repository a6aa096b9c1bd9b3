"""Fixtures of the KServe and KubeRay operator checks (see docs/suites-operators.md):
``operator_check`` and ``operator_ledger`` come from suites/conftest.py, shared with the Ray
Serve pattern benchmark."""
