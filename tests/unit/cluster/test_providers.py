"""Providers: an existing cluster is refused unless allow-listed, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from servegate.cluster import providers
from servegate.errors import UserError


def _kubeconfig(tmp_path: Path, contexts: list[str], current: str | None) -> Path:
    path = tmp_path / "kc.yaml"
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in contexts],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(providers.ALLOWED_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_registry_has_the_three_kinds() -> None:
    assert {"local", "existing", "kind"} <= set(providers.REGISTRY)
    with pytest.raises(UserError, match="unknown cluster kind 'nope'"):
        providers.provider("nope")


def test_context_not_allow_listed_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path, ["prod", "dev"], "prod")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(UserError) as err:
        providers.provider("existing", kubeconfig=kc)
    assert "context 'prod' is not allow-listed" in str(err.value)
    assert providers.ALLOWED_ENV in str(err.value)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_allow_list_from_flag_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kc = _kubeconfig(tmp_path, ["prod", "dev"], "prod")
    by_flag = providers.provider("existing", kubeconfig=kc, context="dev", allow=("dev",))
    assert by_flag.access() == providers.ClusterAccess(kc, "dev")
    monkeypatch.setenv(providers.ALLOWED_ENV, " other , prod ")
    assert providers.provider("existing", kubeconfig=kc).access().context == "prod"
    # Allowing one context never allows another.
    with pytest.raises(UserError, match="'dev' is not allow-listed"):
        providers.provider("existing", kubeconfig=kc, context="dev")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such kubeconfig"),
        ("contexts: [", "not a readable kubeconfig"),
        ("- a list\n", "not a kubeconfig"),
    ],
)
def test_bad_kubeconfig_is_one_line(tmp_path: Path, content: str | None, needle: str) -> None:
    kc = tmp_path / "kc.yaml"
    if content is not None:
        kc.write_text(content)
    with pytest.raises(UserError) as err:
        providers.provider("existing", kubeconfig=kc, allow=("x",))
    assert needle in str(err.value) and str(kc) in str(err.value)


def test_missing_context_lists_the_ones_there(tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path, ["a", "b"], None)
    with pytest.raises(UserError, match="no current-context"):
        providers.provider("existing", kubeconfig=kc, allow=("a",))
    with pytest.raises(UserError, match=r"no context named 'z' \(has: a, b\)"):
        providers.provider("existing", kubeconfig=kc, context="z", allow=("z",))


def test_unreachable_existing_cluster_is_one_line(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    kc = _kubeconfig(tmp_path, ["a"], "a")
    prov = providers.provider("existing", kubeconfig=kc, allow=("a",))
    with pytest.raises(UserError) as err:
        prov.up()
    assert str(err.value).startswith("context 'a' is unreachable:")
    assert "\n" not in str(err.value)


def test_kind_without_docker_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from servegate.cluster.kind import dockerhost

    monkeypatch.setattr(dockerhost.DockerHost, "existing", lambda self: None)
    monkeypatch.setattr("shutil.which", lambda _n: None)
    prov = providers.provider("kind", name="t")
    assert prov.access().context == "kind-t"
    with pytest.raises(UserError, match="needs Docker") as err:
        prov.up()
    assert "\n" not in str(err.value) and "docker.io" in str(err.value)


def test_kind_is_built_from_the_module_proxy_when_not_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from servegate.cluster.kind import cluster
    from servegate.cluster.node import gobuild

    calls: list[tuple[str, str, Path]] = []

    def fake_install(pkg: str, version: str, out: Path, env: object = None) -> Path:
        calls.append((pkg, version, out))
        return out

    monkeypatch.setattr("shutil.which", lambda _n: None)
    monkeypatch.setattr(gobuild, "go_install", fake_install)
    got = cluster.kind_binary()
    assert calls == [(cluster.KIND_MODULE, cluster.KIND_VERSION, got)]
    assert got.name == f"kind-{cluster.KIND_VERSION}"
    monkeypatch.setattr("shutil.which", lambda _n: "/usr/local/bin/kind")
    assert cluster.kind_binary() == Path("/usr/local/bin/kind")


def test_kind_name_is_checked() -> None:
    with pytest.raises(UserError, match="not valid"):
        providers.provider("kind", name="Bad_Name")
