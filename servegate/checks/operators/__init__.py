"""The KServe and KubeRay operator checks' library.

``checks`` holds the Assess steps as pure functions over API objects and ``ledger`` the
session's "operators" section (both unit-tested without a cluster); ``env`` talks to the
cluster (add-ons, admission, reads, pod placement) and ``kserve`` and ``kuberay`` are each
controller's check steps; ``fixtures`` hands them to suites/conformance/operators.
"""
