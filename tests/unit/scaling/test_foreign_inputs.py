"""Where the autoscaling checks find Prometheus and Redis on a cluster servegate did not make:
named by settings, never found on their own; without them the check is a missing capability
(a failure under --sg-strict), not a pass."""

from __future__ import annotations

from typing import Any, cast

import pytest

from servegate.checks.autoscaling.keda import parse_redis_env, prometheus_addresses, redis_addresses
from servegate.cluster.addons.redis import ADDON as REDIS
from servegate.cluster.addons.redis import REDIS_ENV
from servegate.errors import MissingCapability, UserError
from servegate.harness.cluster import ClusterHandle
from servegate.harness.scaling import PROMETHEUS_ENV, require_prometheus


def _foreign() -> ClusterHandle:
    return ClusterHandle(
        kind="existing", kubeconfig="k", context="c", client=cast(Any, None),
        routes_to_services=False, scope=cast(Any, None),
    )  # fmt: skip


def test_without_a_named_prometheus_the_sampler_is_a_missing_capability(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PROMETHEUS_ENV, raising=False)
    with pytest.raises(MissingCapability, match=PROMETHEUS_ENV):
        require_prometheus(_foreign())
    monkeypatch.setenv(PROMETHEUS_ENV, "http://prom.example:9090")
    assert require_prometheus(_foreign()) == "http://prom.example:9090"


def test_keda_prometheus_address_and_sampling_url_come_from_two_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PROMETHEUS_ENV, raising=False)
    monkeypatch.delenv("SERVEGATE_KEDA_PROMETHEUS_URL", raising=False)
    with pytest.raises(MissingCapability, match="SERVEGATE_KEDA_PROMETHEUS_URL"):
        prometheus_addresses(_foreign())
    monkeypatch.setenv("SERVEGATE_KEDA_PROMETHEUS_URL", "http://prometheus.monitoring:9090")
    assert prometheus_addresses(_foreign()) == ("http://prometheus.monitoring:9090", None)
    monkeypatch.setenv(PROMETHEUS_ENV, "http://127.0.0.1:9090")
    assert prometheus_addresses(_foreign())[1] == "http://127.0.0.1:9090"


def test_redis_setting_one_or_two_addresses() -> None:
    assert parse_redis_env("redis.queue:6379") == ("redis.queue:6379", ("redis.queue", 6379))
    assert parse_redis_env("10.0.0.5:6380, 127.0.0.1:16380") == (
        "10.0.0.5:6380",
        ("127.0.0.1", 16380),
    )
    for bad in ("redis", "redis:", ":6379", "redis:port", "redis:70000", "a:1,b:2,c:3"):
        with pytest.raises(UserError, match=REDIS_ENV):
            parse_redis_env(bad)


def test_redis_on_a_foreign_cluster_needs_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REDIS_ENV, raising=False)
    reason = REDIS.check_existing(None)
    assert reason is not None and REDIS_ENV in reason
    with pytest.raises(MissingCapability, match=REDIS_ENV):
        redis_addresses(_foreign())
    monkeypatch.setenv(REDIS_ENV, "10.0.0.5:6379,127.0.0.1:6379")
    assert REDIS.check_existing(None) is None
    assert redis_addresses(_foreign()) == ("10.0.0.5:6379", ("127.0.0.1", 6379))
