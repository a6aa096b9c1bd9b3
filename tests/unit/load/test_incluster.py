"""Where a run's load is sent from (servegate.harness.incluster.choose), and what an
in-cluster run records about its generator (run.json's ceiling and tags)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle, ServiceURL
from servegate.harness.incluster import choose, header_environment
from servegate.k8s.scope import RunScope
from servegate.load.calibration_run import Setup, probe_profile
from servegate.load.meta import build_run_meta
from servegate.load.runner import RunPlan
from servegate.metrics.record import RequestRecord


def _url(routes: bool) -> ServiceURL:
    handle = ClusterHandle(
        kind="existing",
        kubeconfig="kc",
        context="ctx",
        client=None,  # type: ignore[arg-type]  # choose() never calls the API
        routes_to_services=routes,
        scope=RunScope("r1", "me"),
    )
    return ServiceURL("http://127.0.0.1:43210", handle, "sg-1", "vllm", 8000)


def test_auto_sends_from_the_cluster_only_when_this_machine_cannot_route_into_it() -> None:
    assert choose("auto", None, _url(routes=True)) is None
    target = choose("auto", None, _url(routes=False))
    assert target is not None and target.in_cluster == "http://vllm.sg-1.svc:8000"
    assert choose("auto", None, "http://10.0.0.9:8000") is None  # --endpoint: not a Service


def test_a_checks_preference_counts_only_under_auto() -> None:
    assert choose("auto", "host", _url(routes=False)) is None  # smoke keeps the port-forward
    assert choose("cluster", "host", _url(routes=False)) is not None  # the user's word wins
    assert choose("host", "cluster", _url(routes=False)) is None
    assert choose("auto", "cluster", _url(routes=True)) is not None


def test_cluster_load_needs_a_service_of_the_cluster() -> None:
    with pytest.raises(UserError, match="not a Service of the run's cluster"):
        choose("cluster", None, "http://10.0.0.9:8000")
    with pytest.raises(UserError, match="expected one of auto, host, cluster"):
        choose("pods", None, _url(routes=False))


def test_service_url_is_still_the_url_this_machine_uses() -> None:
    url = _url(routes=False)
    assert url == "http://127.0.0.1:43210" and f"{url}/v1/models".startswith("http://127.")


def _plan(headers: dict[str, str]) -> RunPlan:
    profile = probe_profile(10, Setup(), 2.0).model_copy(update={"headers": headers})
    return RunPlan(profile, "http://vllm.sg-1.svc:8000", Path("/x"), 2)


def test_header_variables_are_read_here_for_the_workers_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SG_TEST_TOKEN", "t0k")
    env = header_environment(_plan({"Authorization": "Bearer ${env:SG_TEST_TOKEN}"}))
    assert env == {"SG_TEST_TOKEN": "t0k"}
    assert header_environment(_plan({})) == {}
    monkeypatch.delenv("SG_TEST_TOKEN")
    with pytest.raises(UserError, match="SG_TEST_TOKEN"):
        header_environment(_plan({"Authorization": "Bearer ${env:SG_TEST_TOKEN}"}))


def _load() -> dict[str, Any]:
    return {"start_ns": 10**18, "end_ns": 10**18 + 5 * 10**9, "reason": "shape finished"}


def test_in_cluster_runs_record_the_pods_ceiling_not_this_machines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from servegate.load.calibration_file import default_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert not default_path().exists()
    profile = probe_profile(10, Setup(), 2.0)
    gen = {"generator": "in-cluster", "generator_pods": "4"}
    meta = build_run_meta(
        "r", profile, "http://x", 4, _load(), ceiling_rps=4 * 150.0, generator=gen
    )
    assert meta is not None and meta.generator_ceiling_rps == 600.0
    assert meta.tags["generator"] == "in-cluster" and meta.tags["generator_pods"] == "4"
    # without a calibration of its pods an in-cluster run claims no ceiling, even if this
    # machine has one
    uncal = build_run_meta("r", profile, "http://x", 4, _load(), generator=gen)
    assert uncal is not None and uncal.generator_ceiling_rps is None


def _records(n: int, span_s: float) -> list[RequestRecord]:
    t0 = _load()["start_ns"]
    step = int(span_s * 1e9 / n)
    return [
        RequestRecord(
            request_id=f"r{i}",
            api="chat",
            stream=True,
            sent_ns=t0 + i * step,
            end_ns=t0 + i * step + 1_000_000,
            chunks=[(500_000, 1)],
            status=200,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(("ceiling_per_pod", "flagged"), [(10.0, True), (40.0, False)])
def test_figures_past_the_pods_ceiling_are_flagged(ceiling_per_pod: float, flagged: bool) -> None:
    from servegate.metrics.analyze import analyze

    profile = probe_profile(10, Setup(), 2.0)
    gen = {"generator": "in-cluster", "generator_pods": "2"}
    meta = build_run_meta(
        "r", profile, "http://x", 2, _load(), ceiling_rps=2 * ceiling_per_pod, generator=gen
    )
    assert meta is not None
    # 150 requests sent in 5 s: 30 req/s against 2 pods of 10 (20) or of 40 (80) req/s
    flags = {f.code for f in analyze(_records(150, 5.0), meta).summary.flags}
    assert ("past_generator_ceiling" in flags) is flagged
