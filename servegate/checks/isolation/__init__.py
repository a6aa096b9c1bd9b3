"""The network isolation checks' library: who reaches whom, expected against observed.

``matrix`` holds the truth tables and their comparison, ``scenario`` the probe pods, the
isolation requirement and the policies (pure, unit-tested without a cluster); ``probes`` sets
up the probe pods on a cluster and probes them; ``fixtures`` is the checks' shared Setup and
their report section, handed to suites/conformance/isolation and tests/e2e/isolation.
"""
