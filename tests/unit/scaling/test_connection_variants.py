"""The autoscaling checks' connection variants: the ramp profiles as shipped churn, the
keep-alive copy differs from them in its connections (and name) only, and the "every replica
served" assertion fails, skips or passes as its inputs say."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from servegate.checks.autoscaling.connections import (
    CHURN,
    KEEP_ALIVE,
    assert_replicas_served,
    most_completions,
    per_pod_figures,
    ramp_profile,
    replicas_served_verdict,
)
from servegate.config.base import load_yaml_file
from servegate.config.profile import Profile
from servegate.errors import MissingCapability, UserError
from servegate.metrics.scaling import ScalingSample
from servegate.paths import LOADPROFILES

RAMPS = ["ramp-autoscale", "keda-ramp"]


@pytest.mark.parametrize("name", RAMPS)
def test_the_shipped_ramps_churn(name: str, tmp_path: Path) -> None:
    path = ramp_profile(name, CHURN, tmp_path)
    assert path == LOADPROFILES / f"{name}.yaml"
    assert load_yaml_file(path, Profile).connections.per_connection == 2


@pytest.mark.parametrize("name", RAMPS)
def test_the_keep_alive_copy_changes_only_connections_and_name(name: str, tmp_path: Path) -> None:
    shipped = yaml.safe_load((LOADPROFILES / f"{name}.yaml").read_text())
    copy_path = ramp_profile(name, KEEP_ALIVE, tmp_path)
    assert copy_path.parent == tmp_path / "profiles"
    copied = yaml.safe_load(copy_path.read_text())
    assert copied.pop("connections") == {"mode": "keep-alive"}
    assert copied.pop("name") == f"{name}-keep-alive"
    del shipped["connections"], shipped["name"]
    assert copied == shipped
    assert load_yaml_file(copy_path, Profile).connections.per_connection is None


def test_a_profile_that_keeps_connections_is_refused_as_churn(tmp_path: Path) -> None:
    kept = ramp_profile("ramp-autoscale", KEEP_ALIVE, tmp_path)
    with pytest.raises(UserError, match="connections must churn"):
        ramp_profile(str(kept), CHURN, tmp_path)
    with pytest.raises(ValueError, match="variant must be one of"):
        ramp_profile("ramp-autoscale", "sometimes", tmp_path)


def at(t: float, pods: tuple[str, ...], served: dict[str, float]) -> ScalingSample:
    return ScalingSample(t=t, wall=t, ready_pods=pods, served_by_pod=served)


# a Ready throughout, b from 10 s; load 0-60 s: a Ready 60 s, b 50 s of it
BALANCED = [at(t, ("a",) if t < 10 else ("a", "b"), {"a": t, "b": t / 2}) for t in range(0, 70, 10)]
LOPSIDED = [at(s.t, s.ready_pods or (), {"a": s.t}) for s in BALANCED]


def test_assertion_passes_when_the_added_replica_served() -> None:
    assert_replicas_served(BALANCED, 0.0, 60.0, most=90)
    assert replicas_served_verdict(BALANCED, 0.0, 60.0, 90).startswith("every replica Ready")
    assert replicas_served_verdict(BALANCED, 0.0, 60.0, None).startswith("every replica Ready")
    figs = per_pod_figures(BALANCED, 0.0, 60.0, 95)
    assert figs["requests_per_pod"] == {"a": 60, "b": 30}
    assert figs["requests_recorded_by_client"] == 95
    assert figs["ready_s_during_load"] == {"a": 60.0, "b": 50.0}


def test_assertion_fails_when_the_added_replica_served_nothing() -> None:
    with pytest.raises(UserError, match=r"1 of 2 replicas .* served no request \(b\)"):
        assert_replicas_served(LOPSIDED, 0.0, 60.0, most=60)
    assert "served no request (b)" in replicas_served_verdict(LOPSIDED, 0.0, 60.0, 60)


def test_counts_above_what_the_client_can_have_sent_fail() -> None:
    # a + b = 90 completions, at most 45 sent: e.g. each pod scraped twice
    with pytest.raises(UserError, match="pods count 90 completed requests, more than the 45"):
        assert_replicas_served(BALANCED, 0.0, 60.0, most=45)
    assert "scraped twice" in replicas_served_verdict(BALANCED, 0.0, 60.0, 45)


@pytest.mark.parametrize(("name", "users"), [("ramp-autoscale", 12), ("keda-ramp", 12)])
def test_most_completions_adds_one_request_in_flight_per_user(name: str, users: int) -> None:
    # both ramps end at 12 users (their files: shape.end), each may have one request open,
    # and 2 % of 400 = 8 may have ended after the measured window
    assert most_completions(400, LOADPROFILES / f"{name}.yaml") == 400 + users + 8
    assert most_completions(401, LOADPROFILES / f"{name}.yaml") == 401 + users + 9  # ceil


def test_most_completions_needs_a_closed_loop_ramp() -> None:
    with pytest.raises(UserError, match="closed-loop ramp"):
        most_completions(1, LOADPROFILES / "chat-poisson.yaml")


def test_assertion_skips_without_per_pod_counts() -> None:
    blind = [at(s.t, s.ready_pods or (), {}) for s in BALANCED]
    with pytest.raises(MissingCapability, match="per-pod request counts need a Prometheus"):
        assert_replicas_served(blind, 0.0, 60.0, most=90)
    assert replicas_served_verdict(blind, 0.0, 60.0, 90).startswith("not judged")
