"""Per-pod figures of an autoscaling series and the "every replica served" check, on
hand-made series whose answers are worked out by hand in the comments."""

from __future__ import annotations

import json

import pytest

from servegate.harness.scaling import ready_pod_names
from servegate.metrics.replica_traffic import (
    check_replicas_served,
    counts_recorded,
    pods_text,
    ready_seconds,
    served_per_pod,
)
from servegate.metrics.scaling import ScalingSample


def at(t: float, pods: tuple[str, ...] | None, served: dict[str, float]) -> ScalingSample:
    return ScalingSample(t=t, wall=1000.0 + t, ready_pods=pods, served_by_pod=served)


# a Ready from 0 s; b Ready from 20 s; c Ready from 50 s to 60 s; load from 5 s to 65 s;
# samples every 10 s up to 70 s.
SERIES = [
    at(0, ("a",), {}),
    at(10, ("a",), {"a": 4.0}),
    at(20, ("a", "b"), {"a": 9.0}),
    at(30, ("a", "b"), {"a": 15.0, "b": 2.0}),
    at(40, ("a", "b"), {"a": 20.0, "b": 7.0}),
    at(50, ("a", "b", "c"), {"a": 26.0, "b": 12.0}),
    at(60, ("a", "b", "c"), {"a": 31.0, "b": 18.0}),
    at(70, ("a", "b"), {"a": 33.0, "b": 19.0}),
]


def test_ready_seconds_count_spans_ready_at_both_ends_inside_the_load() -> None:
    secs = ready_seconds(SERIES, start=5.0, stop=65.0)
    # a: every span, clipped to [5, 65]: 5 + 10*5 + 5 = 60; b: spans 20-30 .. 60-70 clipped
    # = 10*4 + 5 = 45; c: only the span 50-60 has c at both ends = 10.
    assert secs == {"a": 60.0, "b": 45.0, "c": 10.0}


def test_an_unreadable_sample_breaks_the_spans_next_to_it() -> None:
    s = [at(0, ("a",), {}), at(10, None, {}), at(20, ("a",), {}), at(30, ("a",), {})]
    assert ready_seconds(s, 0.0, 30.0) == {"a": 10.0}  # only 20-30


def test_served_is_the_highest_reading_of_each_counter() -> None:
    # c never completed a request: it has no counter series, so it is absent here
    assert served_per_pod(SERIES) == {"a": 33, "b": 19}
    assert counts_recorded(SERIES) and not counts_recorded(SERIES[:1])


def test_every_replica_ready_long_enough_served_passes() -> None:
    # judged with min 30 s: a (60 s) and b (45 s); c (10 s) is too short to be judged
    assert check_replicas_served(SERIES, 5.0, 65.0, min_ready_s=30.0) is None


def test_an_added_replica_that_served_nothing_fails_naming_it() -> None:
    keep_alive = [at(s.t, s.ready_pods, {"a": s.served_by_pod.get("a", 0.0)}) for s in SERIES]
    msg = check_replicas_served(keep_alive, 5.0, 65.0, min_ready_s=30.0)
    assert msg is not None and "\n" not in msg
    assert msg.startswith("1 of 2 replicas Ready for >= 30s of the load served no request (b)")
    assert "a: 33 requests, Ready 60s of the load; b: 0 requests, Ready 45s" in msg


def test_a_replica_ready_too_briefly_is_not_judged() -> None:
    # c served nothing but was Ready only 10 s of the load: not a failure at 30 s, one at 10 s
    assert check_replicas_served(SERIES, 5.0, 65.0, min_ready_s=30.0) is None
    msg = check_replicas_served(SERIES, 5.0, 65.0, min_ready_s=10.0)
    assert msg is not None and "(c)" in msg and msg.startswith("1 of 3 replicas")


def test_without_an_added_replica_there_is_nothing_to_judge() -> None:
    one = [at(t, ("a",), {"a": t}) for t in (0.0, 10.0, 20.0, 30.0, 40.0)]
    msg = check_replicas_served(one, 0.0, 40.0, min_ready_s=30.0)
    assert msg is not None
    assert msg.startswith("only 1 pod(s) were Ready for >= 30s of the load (need 2")


def test_pods_text_without_a_window_leaves_ready_out() -> None:
    assert pods_text(None, {"b": 1, "a": 5}) == "a: 5 requests; b: 1 requests"


def test_samples_with_pods_survive_the_jsonl_round_trip() -> None:
    s = at(3.0, ("p-1", "p-2"), {"p-1": 7.0})
    back = ScalingSample.from_json(json.loads(json.dumps(s.to_json())))
    assert back == s
    old = {"t": 1.0, "wall": 2.0, "ready": 1, "errors": []}  # a series written before
    assert ScalingSample.from_json(old).ready_pods is None


def pod(name: str, ready: str | None, deleting: bool = False) -> dict[str, object]:
    meta: dict[str, object] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    conds = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {"metadata": meta, "status": {"conditions": conds}}


@pytest.mark.parametrize(
    ("pods", "want"),
    [
        ([pod("b", "True"), pod("a", "True")], ("a", "b")),
        ([pod("a", "False"), pod("b", None)], ()),
        ([pod("a", "True", deleting=True), pod("b", "True")], ("b",)),
    ],
)
def test_ready_pod_names_are_ready_and_not_terminating(
    pods: list[dict[str, object]], want: tuple[str, ...]
) -> None:
    assert ready_pod_names(pods) == want
