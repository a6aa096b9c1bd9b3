"""Waiting for a run's namespace to go: done on 404, given up at once (with a warning that
says why) when the namespace controller reports that the cluster stalls the deletion."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException

from servegate.k8s.client import Cluster
from servegate.k8s.deploy import deletion_stalled, wait_namespace_gone

DISCOVERY = NS(
    type="NamespaceDeletionDiscoveryFailure",
    status="True",
    message="Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: stale",
)
CONTENT = NS(type="NamespaceContentRemaining", status="True", message="Some resources remain")


class FakeCore:
    """``read_namespace`` answers from a script: a namespace object, or 404 once it is gone."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.reads = 0

    def read_namespace(self, name: str) -> Any:
        answer = self.answers[min(self.reads, len(self.answers) - 1)]
        self.reads += 1
        if answer is None:
            raise ApiException(status=404, reason="Not Found")
        return answer


def _cluster(core: FakeCore) -> Cluster:
    return cast(Cluster, NS(core=core))


def _ns(*conditions: Any) -> Any:
    return NS(status=NS(phase="Terminating", conditions=list(conditions)))


def test_gone_when_the_api_answers_404() -> None:
    core = FakeCore([_ns(), None])
    assert wait_namespace_gone(_cluster(core), "sg-x", timeout_s=5.0)
    assert core.reads == 2


def test_a_discovery_failure_ends_the_wait_at_once_with_a_warning_naming_it() -> None:
    core = FakeCore([_ns(CONTENT), _ns(DISCOVERY)])
    with pytest.warns(UserWarning, match=r"sg-x is left Terminating.*metrics\.k8s\.io"):
        assert not wait_namespace_gone(_cluster(core), "sg-x", timeout_s=60.0)
    assert core.reads == 2  # not the 60 s of polling a stalled deletion would cost


def test_only_a_true_stalling_condition_counts() -> None:
    assert deletion_stalled(_ns(CONTENT)) is None
    cleared = NS(type=DISCOVERY.type, status="False", message="")
    assert deletion_stalled(_ns(cleared)) is None
    assert deletion_stalled(NS(status=None)) is None
    assert deletion_stalled(_ns(DISCOVERY)) == f"{DISCOVERY.type}: {DISCOVERY.message}"
