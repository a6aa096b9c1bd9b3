"""Every isolation check, shown able to fail: each is run against a deliberately broken
policy (or a cluster state without enforcement) and must fail with a message that names the
wrong cells and shows expected and observed tables side by side. The reference policy is run
first, on the same pods, as the unbroken counterpart: it passes, so each failure below is due
to the break and nothing else.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from servegate.checks.isolation import scenario as sc
from servegate.checks.isolation.fixtures import Isolation, assess
from servegate.checks.isolation.probes import ENFORCER_HELP, canary
from servegate.harness.cluster import ClusterHandle

pytestmark = [pytest.mark.e2e]


def _shown(failures: list[str]) -> str:
    """The failure message, printed (``-s`` shows what a user of the check would read)."""
    text = "\n".join(failures)
    print("\nreported:\n" + text)
    return text


def test_reference_policy_passes_both_checks(isolation: Isolation) -> None:
    isolation.require_enforcement()
    run = isolation.run_policy("reference", isolation.reference)
    assert assess(run, sc.pod_columns(isolation.env.pods), "reference") == []
    assert assess(run, [sc.DNS], "reference") == []


def test_egress_without_dns_fails_the_dns_check(isolation: Isolation) -> None:
    """The seed article's NetworkPolicy: Egress listed, no rule for DNS."""
    isolation.require_enforcement()
    run = isolation.run_policy("no-dns", sc.without_dns(isolation.reference))
    text = _shown(assess(run, [sc.DNS], "policy without DNS egress"))
    assert "a/model-server -> dns: expected reachable, observed blocked" in text
    assert "expected" in text and "observed" in text and "agree?" in text
    assert "a/api-gateway -> dns" not in text  # only the isolated pod lost DNS
    assert assess(run, sc.pod_columns(isolation.env.pods), "policy without DNS egress") == []


def test_selector_admitting_everyone_fails_the_ingress_check(isolation: Isolation) -> None:
    isolation.require_enforcement()
    run = isolation.run_policy("admits-everyone", sc.admits_everyone(isolation.reference))
    text = _shown(
        assess(run, sc.pod_columns(isolation.env.pods), "policy admitting every namespace")
    )
    assert "a/other -> a/model-server:8000: expected blocked, observed reachable" in text
    assert "b/api-gateway -> a/model-server:8000: expected blocked, observed reachable" in text
    assert "a/api-gateway -> a/model-server:8000" not in text  # the gateway was right anyway


def test_cluster_without_enforcer_is_reported(
    isolation: Isolation, sg_cluster: ClusterHandle
) -> None:
    """Local cluster only: the enforcer is stopped and its rules removed, the canary must say
    plainly that policies are not enforced; then the add-on is started again."""
    if sg_cluster.kind != "local":
        pytest.skip("needs the local cluster, whose enforcer this test may stop")
    isolation.require_enforcement()
    from servegate.cluster import addons
    from servegate.cluster.addons import netpol

    ctx = addons.context(sg_cluster.cluster_name)
    ctx.sup.stop(netpol.PROCESS)
    try:
        netpol.teardown_host()
        assert netpol.leftovers() == []
        result = canary(isolation.env, settle_s=3.0)
        print("\nreported:\n" + result.message)
        assert not result.enforced
        assert result.message.startswith(ENFORCER_HELP)
        assert "left b/api-gateway -> b/other:8000 reachable" in result.message
    finally:
        ctx.api.close()
        # Restarted by the CLI, so the enforcer is not a child of this pytest process.
        cli = [sys.executable, "-m", "servegate", "cluster", "addons", "network-policy"]
        restart = subprocess.run(cli, capture_output=True, text=True, timeout=300, check=False)
    assert restart.returncode == 0, restart.stderr
    assert canary(isolation.env).enforced
