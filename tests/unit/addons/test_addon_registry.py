"""The add-on registry: requirement order, cycles, unknown names, and stopping on ``down``."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from servegate.cluster import addons
from servegate.cluster.addons.base import Addon, AddonContext
from servegate.cluster.node.layout import Layout
from servegate.errors import UserError


@dataclass
class Fake:
    name: str
    requires: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    events: list[str] = field(default_factory=list)
    working: bool = False

    def build(self, progress: Any) -> None:
        self.events.append(f"build {self.name}")

    def start(self, ctx: AddonContext, progress: Any) -> None:
        self.events.append(f"start {self.name}")
        self.working = True

    def ready(self, ctx: AddonContext) -> str | None:
        return None if self.working else "not started"

    def teardown(self, node: Layout) -> None:
        self.events.append(f"teardown {self.name}")

    def check_existing(self, client: Any) -> str | None:
        return None


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Fake]:
    events: list[str] = []
    table = {
        "a": Fake("a", requires=("b",), events=events),
        "b": Fake("b", requires=("c",), events=events),
        "c": Fake("c", events=events),
        "x": Fake("x", requires=("y",), events=events),
        "y": Fake("y", requires=("x",), events=events),
    }
    monkeypatch.setattr(addons, "REGISTRY", {n: f"fake:{n}" for n in table})
    monkeypatch.setattr(addons, "load", lambda name: table[name])
    return table


@dataclass
class FakeApi:
    """The API server as ``disable`` sees it: APIServices by label, deletions recorded."""

    apiservices: dict[str, str] = field(default_factory=dict)  # name -> servegate.io/addon
    calls: list[str] = field(default_factory=list)

    def get(self, path: str) -> Any:
        self.calls.append(f"GET {path}")
        assert path.startswith(addons.APISERVICES + "?labelSelector=servegate.io%2Faddon%3D")
        addon = path.rsplit("%3D", 1)[1]
        items = [{"metadata": {"name": n}} for n, a in self.apiservices.items() if a == addon]
        return {"items": items}

    def delete(self, path: str) -> None:
        self.calls.append(f"DELETE {path}")
        self.apiservices.pop(path.rsplit("/", 1)[1], None)

    def close(self) -> None:
        self.calls.append("close")


def _ctx(tmp_path: Path, api: FakeApi | None = None) -> AddonContext:
    node = Layout(tmp_path / "node")
    return AddonContext(
        cluster="t",
        state_dir=tmp_path,
        node=node,
        sup=node.processes(),
        api=api or FakeApi(),  # type: ignore[arg-type]  # the calls disable makes
        apiserver_url="https://127.0.0.1:1",
        ca=tmp_path / "ca.crt",
        front_proxy_ca=tmp_path / "fp.crt",
        prometheus_url="http://127.0.0.1:1",
    )


def test_fakes_satisfy_the_protocol() -> None:
    assert isinstance(Fake("n"), Addon)


def test_enable_starts_requirements_first_and_skips_working_ones(
    fakes: dict[str, Fake], tmp_path: Path
) -> None:
    fakes["c"].working = True
    took = addons.enable(_ctx(tmp_path), ["a"])
    assert list(took) == ["c", "b", "a"]
    assert took["c"] == 0.0
    assert fakes["a"].events == ["build b", "start b", "build a", "start a"]


def test_requirement_cycle_is_a_one_line_error(fakes: dict[str, Fake], tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cycle: x -> y -> x"):
        addons.enable(_ctx(tmp_path), ["x"])


def test_unknown_addon_names_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addons, "REGISTRY", {"kuberay": "m:a"})
    with pytest.raises(UserError, match=r"unknown add-on 'nope' \(known: kuberay\)"):
        addons.load("nope")


def test_stop_all_ends_addon_processes_and_tears_down_but_spares_the_core(
    fakes: dict[str, Fake], tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path)
    core = ctx.sup.start("kubelet", ["sleep", "30"])
    extra = ctx.sup.start("c-daemon", ["sleep", "30"])
    ctx.dir("c")
    try:
        addons.stop_all(ctx.node, ctx.sup)
        assert not ctx.sup.alive("c-daemon")
        assert ctx.sup.alive("kubelet")
        assert fakes["c"].events == ["teardown c"]
    finally:
        for rec in (core, extra):
            subprocess.run(["kill", str(rec.pid)], check=False)
        ctx.sup.stop("kubelet")


def test_disable_stops_only_that_addons_processes_and_tears_it_down(
    fakes: dict[str, Fake], tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path)
    fakes["c"].processes = ("c-daemon",)
    mine = ctx.sup.start("c-daemon", ["sleep", "30"])
    other = ctx.sup.start("b-daemon", ["sleep", "30"])
    try:
        addons.disable(ctx, "c")
        assert not ctx.sup.alive("c-daemon")
        assert ctx.sup.alive("b-daemon")
        assert fakes["c"].events == ["teardown c"]
    finally:
        for rec in (mine, other):
            subprocess.run(["kill", str(rec.pid)], check=False)
        ctx.sup.stop("b-daemon")


def test_disable_unregisters_only_that_addons_apiservices_before_stopping_it(
    fakes: dict[str, Fake], tmp_path: Path
) -> None:
    """A stopped extension API server must not stay registered: discovery of every client
    fails on it and deleted namespaces stay Terminating."""
    api = FakeApi({"v1beta1.metrics.k8s.io": "c", "v1beta1.external.metrics.k8s.io": "b"})
    ctx = _ctx(tmp_path, api)
    fakes["c"].processes = ("c-daemon",)
    rec = ctx.sup.start("c-daemon", ["sleep", "30"])
    try:
        addons.disable(ctx, "c")
        assert api.apiservices == {"v1beta1.external.metrics.k8s.io": "b"}
        assert f"DELETE {addons.APISERVICES}/v1beta1.metrics.k8s.io" in api.calls
        assert api.calls[-1] == "close"  # no client socket left open
        assert not ctx.sup.alive("c-daemon")
    finally:
        subprocess.run(["kill", str(rec.pid)], check=False)
