"""The KEDA checks of suites/autoscaling, shown able to fail.

Each test runs the check's own setup with one deliberate break and short deadlines, and
asserts that the check's assertion fails with a message that says what did not happen and
what the autoscaler reported. The unbroken counterparts are the checks themselves.
"""

from __future__ import annotations

import socket

import pytest

from servegate.checks.autoscaling import fixtures
from servegate.checks.autoscaling.scaledobject import Knobs
from servegate.checks.autoscaling.scenarios import RAMP_PROFILE, KedaScenarios
from servegate.errors import UserError
from servegate.harness.addons import NeedAddons
from servegate.harness.load import RunProfile
from servegate.metrics.scaling import check_reached

pytestmark = [pytest.mark.e2e]

keda = fixtures.keda  # the suite's fixture (suites/autoscaling/conftest.py), here too

KNOBS = Knobs(max_replicas=4)
SHORT_S = 30.0  # long enough for two HPA syncs (15 s) had the break not been there


def _shown(message: str) -> str:
    print(f"\nreported: {message}")  # -s shows what a user of the check would read
    return message


def _unused_bridge_port(bridge_ip: str) -> int:
    """A port nothing listens on at the bridge address (connections are refused)."""
    with socket.socket() as s:
        s.bind((bridge_ip, 0))
        return int(s.getsockname()[1])


def test_redis_scale_up_fails_when_the_scaledobject_watches_another_list(
    sg_addons: NeedAddons, keda: KedaScenarios
) -> None:
    sg_addons("redis", "keda")
    wrong = {"listName": "some_other_queue"}
    with keda.redis(KNOBS, so_override=wrong) as sc:
        since = sc.sampler.mark("pushed")
        sc.push(20)
        with pytest.raises(UserError) as failed:
            sc.wait_reached(2, SHORT_S, since)
    msg = _shown(str(failed.value))
    assert f"desired replicas did not reach >= 2 within {SHORT_S:.0f}s (never; peak 1)" in msg
    assert "autoscaler: ScaledObject Ready=True" in msg


def test_redis_scale_up_fails_when_redis_is_unreachable(
    sg_addons: NeedAddons, keda: KedaScenarios
) -> None:
    from servegate.cluster.addons.base import BRIDGE_IP

    sg_addons("redis", "keda")
    dead = {"address": f"{BRIDGE_IP}:{_unused_bridge_port(BRIDGE_IP)}"}
    # KEDA refuses such a ScaledObject outright (no HPA), so the check fails in its setup.
    with (
        pytest.raises(UserError) as failed,
        keda.redis(KNOBS, so_override=dead) as sc,
    ):
        since = sc.sampler.mark("pushed")
        sc.push(20)
        sc.sampler.wait_reached(2, SHORT_S, since=since, which="desired")
    msg = _shown(str(failed.value))
    assert "KEDA made no HPA for model-server-redis-queue" in msg
    assert f"connection to redis failed: dial tcp {dead['address']}" in msg


def test_redis_scale_down_fails_when_the_list_is_not_drained(
    sg_addons: NeedAddons, keda: KedaScenarios
) -> None:
    sg_addons("redis", "keda")
    with keda.redis(KNOBS) as sc:
        since = sc.sampler.mark("pushed")
        sc.push(20)
        sc.sampler.wait_reached(2, 90, since=since, which="desired")
        since = sc.sampler.mark("list left full")
        with pytest.raises(UserError) as failed:
            sc.sampler.wait_settled(1, SHORT_S, since, "desired")
    msg = _shown(str(failed.value))
    assert f"desired replicas did not come back to 1 within {SHORT_S:.0f}s (never" in msg


def test_prometheus_scale_up_fails_when_the_query_matches_no_series(
    sg_addons: NeedAddons, keda: KedaScenarios, run_profile: RunProfile
) -> None:
    sg_addons("keda")
    knobs = Knobs(max_replicas=2)
    wrong = {"query": 'sum(vllm:num_requests_waiting{namespace="no-such-namespace"})'}
    with keda.prometheus(knobs, so_override=wrong) as sc:
        start = sc.sampler.mark("load start")
        run_profile(RAMP_PROFILE, sc.url, model="auto")
        reason = check_reached(sc.sampler.snapshot(), 2, 75.0, start, "desired")
        assert reason is not None, "the HPA scaled although the query matches nothing"
        with pytest.raises(UserError) as failed:
            sc.fail(reason)
        queued = max((s.queue_depth or 0.0) for s in sc.sampler.snapshot())
        threshold = float(sc.trigger()["threshold"])
    msg = _shown(str(failed.value))
    assert "desired replicas did not reach >= 2 within 75s (never; peak 1)" in msg
    # Without this the failure could be the load's fault, not the query's.
    assert queued > threshold, f"the load never queued past {threshold} ({queued}): no proof"
