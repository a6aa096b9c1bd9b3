"""Network isolation of the model server, checked by probing who reaches whom.

Setup (fixture ``isolation``, once): probe pods in two namespaces of the run, labelled like
the reference model server, its gateway and bystanders (servegate.checks.isolation.scenario);
a baseline table with no policy; a canary deny-all policy. Assess: with the reference unit's
NetworkPolicy (manifests/components/policies) applied to the model server's namespace, the
observed truth table equals the isolation requirement; a mismatch fails with expected,
observed and their agreement side by side. Teardown: policies removed, events and logs saved,
namespaces deleted.
"""

from __future__ import annotations

import pytest

from servegate.checks.isolation import scenario as sc
from servegate.checks.isolation.fixtures import Isolation, assess
from servegate.checks.isolation.matrix import verdict
from servegate.harness.cluster import ClusterHandle

pytestmark = [pytest.mark.conformance, pytest.mark.e2e]

REFERENCE = "model-server-isolation"


def test_cluster_enforces_network_policy(isolation: Isolation, sg_cluster: ClusterHandle) -> None:
    base = sc.expected(isolation.env.pods, policy_applied=False)
    failures = verdict(base, isolation.baseline.observed, "without any policy")
    assert not failures, "\n".join(failures)
    if not isolation.canary.enforced:
        if sg_cluster.kind == "local":  # its own enforcer was just started
            pytest.fail(f"local cluster: {isolation.canary.message}", pytrace=False)
        isolation.require_enforcement()  # a skip naming what is missing; --sg-strict: a failure
    assert isolation.canary.before is True and isolation.canary.after is False


def test_only_gateway_reaches_model_server(isolation: Isolation) -> None:
    isolation.require_enforcement()
    run = isolation.run_policy(REFERENCE, isolation.reference)
    failures = assess(run, sc.pod_columns(isolation.env.pods), f"policy {REFERENCE}")
    assert not failures, "\n".join(failures)


def test_dns_still_resolves(isolation: Isolation) -> None:
    isolation.require_enforcement()
    run = isolation.run_policy(REFERENCE, isolation.reference)
    failures = assess(run, [sc.DNS], f"policy {REFERENCE}, DNS lookups of {sc.DNS_NAME}")
    assert not failures, "\n".join(failures)
