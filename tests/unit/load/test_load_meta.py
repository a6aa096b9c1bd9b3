"""run.json is built from the profile and the master's load.json."""

from __future__ import annotations

from servegate.config.profile import Profile
from servegate.load.meta import build_run_meta, new_run_id
from servegate.load.runner import max_users_per_worker

S = 1_000_000_000


def _profile(**over: object) -> Profile:
    doc: dict[str, object] = {
        "kind": "Profile",
        "name": "t",
        "api": "chat",
        "model": "m",
        "load": {"type": "closed"},
        "shape": {
            "type": "stages",
            "stages": [{"duration": 5, "level": 2}, {"duration": 5, "level": 6}],
        },
        "prompt": {"mean": 10},
        "output": {"mean": 10},
    }
    doc.update(over)
    return Profile.model_validate(doc)


def test_meta_carries_window_stages_and_host() -> None:
    load = {
        "start_ns": 100 * S,
        "end_ns": 110 * S,
        "window": {"start_ns": 101 * S, "end_ns": 109 * S},
        "timeline": [
            {"step": 0, "level": 2.0, "start_ns": 100 * S, "end_ns": 105 * S},
            {"step": 1, "level": 6.0, "start_ns": 105 * S, "end_ns": 110 * S},
        ],
        "reason": "shape finished",
    }
    meta = build_run_meta("rid", _profile(), "http://127.0.0.1:1", 2, load)
    assert meta is not None
    assert meta.measured_window().seconds == 8
    assert [(s.concurrency, s.rate_rps) for s in meta.stages] == [(2, None), (6, None)]
    assert meta.tags["host"] and meta.tags["load_end"] == "shape finished"
    assert meta.profile["name"] == "t"


def test_meta_is_none_when_load_never_started() -> None:
    assert build_run_meta("rid", _profile(), "u", 1, {"start_ns": None, "end_ns": None}) is None


def test_run_ids_are_unique_and_name_the_profile() -> None:
    ids = {new_run_id("smoke") for _ in range(20)}
    assert len(ids) == 20 and all("-smoke-" in i for i in ids)


def test_pool_covers_the_most_users_a_worker_can_get() -> None:
    p = _profile()
    assert max_users_per_worker(p, 1) == 6
    assert max_users_per_worker(p, 4) == 2  # ceil(6 / 4)


def test_run_json_says_how_arrival_times_were_taken() -> None:
    from servegate.load.meta import arrival_stamps
    from servegate.metrics.clock import KERNEL_RX_STAMPS

    rag = _profile(
        api="embeddings",
        then=["chat"],
        endpoints={"embeddings": "https://embed.example:8443/v1/embeddings"},
    )
    got = [
        arrival_stamps(_profile(), "http://127.0.0.1:1"),
        arrival_stamps(_profile(), "https://127.0.0.1:1"),
        arrival_stamps(rag, "http://127.0.0.1:1"),
        arrival_stamps(rag, "https://127.0.0.1:1"),
    ]
    if KERNEL_RX_STAMPS:
        assert got == ["kernel", "user", "kernel for http, user for https", "user"]
    else:
        assert got == ["user"] * 4
