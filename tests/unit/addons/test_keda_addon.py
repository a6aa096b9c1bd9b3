"""The KEDA add-on's pure parts: the wrapper module, the process flags, the API objects."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from servegate.cluster.addons import keda, keda_build, keda_objects, wrapbuild
from servegate.cluster.addons.base import Addon
from servegate.errors import UserError

ROOT = Path(__file__).resolve().parents[3]

UPSTREAM = """module github.com/kedacore/keda/v2

go 1.26.0

// a comment with replace in it
replace github.com/a/b v0.1.0 => github.com/a/b v0.1.1 // why

exclude github.com/go-chi/chi/v5 v5.2.3

replace (
\tgithub.com/c/d => github.com/c/d v1.2.3
\tgithub.com/e/f v1.0.0 => github.com/e/f v1.0.1
)

require (
\tgithub.com/x/y v1.0.0
)
"""


def test_directives_are_copied_in_both_forms_without_comments() -> None:
    assert wrapbuild.copied_directives(UPSTREAM) == [
        "replace github.com/a/b v0.1.0 => github.com/a/b v0.1.1",
        "exclude github.com/go-chi/chi/v5 v5.2.3",
        "replace github.com/c/d => github.com/c/d v1.2.3",
        "replace github.com/e/f v1.0.0 => github.com/e/f v1.0.1",
    ]


def test_a_local_replace_cannot_be_wrapped() -> None:
    with pytest.raises(UserError, match="local replace"):
        wrapbuild.copied_directives("replace example.com/m => ./m\n")


def test_wrapper_requires_keda_with_its_go_line_and_directives() -> None:
    text = wrapbuild.wrapper_gomod("keda", keda_build.MODULE, "v2.21.0", UPSTREAM)
    lines = text.splitlines()
    assert lines[0].endswith("/keda") and "go 1.26.0" in lines
    assert "require github.com/kedacore/keda/v2 v2.21.0" in lines
    assert "exclude github.com/go-chi/chi/v5 v5.2.3" in lines
    assert "require (" not in text  # KEDA's own requirements come from its go.mod


def test_version_is_the_one_of_the_vendored_crds() -> None:
    sources = yaml.safe_load((ROOT / "manifests" / "crds" / "SOURCES.yaml").read_text())
    entries = sources["sources"] if isinstance(sources, dict) else sources
    versions = {e["module"]: e["version"] for e in entries}
    assert versions[keda_build.MODULE] == keda_build.VERSION


def test_ldflags_stamp_the_version_without_v() -> None:
    assert f"{keda_build.MODULE}/version.Version=2.21.0" in keda_build.ldflags("v2.21.0")


def test_explicit_bin_dir_must_hold_both_binaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(keda_build.BIN_DIR_ENV, str(tmp_path))
    (tmp_path / "keda-operator").write_text("")
    with pytest.raises(UserError, match="keda-adapter"):
        keda_build.binaries()
    (tmp_path / "keda-adapter").write_text("")
    found = keda_build.binaries()
    assert found is not None and found["keda-adapter"] == tmp_path / "keda-adapter"


PORTS = {
    "grpc": 19666,
    "operator-metrics": 18080,
    "operator-health": 18081,
    "adapter": 16443,
    "adapter-metrics": 19022,
}


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in argv[1:])


def test_operator_listens_on_loopback_only(tmp_path: Path) -> None:
    flags = _flags(keda.operator_argv(tmp_path / "op", tmp_path / "certs", PORTS))
    for key in (
        "metrics-bind-address",
        "health-probe-bind-address",
        "metrics-service-bind-address",
    ):
        assert flags[key].startswith("127.0.0.1:"), key
    assert flags["metrics-service-bind-address"] == "127.0.0.1:19666"
    assert flags["leader-elect"] == "false"


def test_adapter_serves_on_the_bridge_and_reaches_the_operator_on_loopback(
    tmp_path: Path,
) -> None:
    ctx: Any = type(
        "Ctx",
        (),
        {
            "front_proxy_ca": tmp_path / "fp.crt",
            "bridge_ip": "10.244.0.1",
        },
    )()
    kubeconfig = tmp_path / "keda-adapter.kubeconfig"
    flags = _flags(keda.adapter_argv(tmp_path / "ad", tmp_path / "certs", PORTS, ctx, kubeconfig))
    for use in ("lister", "authentication", "authorization"):
        assert flags[f"{use}-kubeconfig"] == str(kubeconfig)
    assert flags["bind-address"] == "10.244.0.1"
    assert flags["secure-port"] == "16443"
    assert flags["metrics-service-address"] == "127.0.0.1:19666"
    assert flags["requestheader-client-ca-file"] == str(tmp_path / "fp.crt")


def test_only_labelled_scaledobjects_are_watched(tmp_path: Path) -> None:
    env = keda.environment(tmp_path / "k")
    assert env["KUBECONFIG"] == str(tmp_path / "k")
    assert env["WATCH_LABEL_SELECTOR"] == "servegate.io/keda=enabled"
    assert env["WATCH_NAMESPACE"] == ""


def test_certificates_serve_the_bridge_loopback_and_service_name(tmp_path: Path) -> None:
    from cryptography import x509

    certs = keda.certificates(tmp_path, "10.244.0.1")
    assert {p.name for p in certs.iterdir()} >= {"ca.crt", "tls.crt", "tls.key"}
    cert = x509.load_pem_x509_certificate((certs / "tls.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    assert ips == {"127.0.0.1", "10.244.0.1"}
    assert "keda-metrics-apiserver.kube-system.svc" in san.get_values_for_type(x509.DNSName)


def test_registration_objects_point_at_the_bridge() -> None:
    objs = {o["kind"]: o for o in keda_objects.objects("10.244.0.1", 16443, b"PEM")}
    assert objs["Service"]["spec"].get("selector") is None
    assert objs["Endpoints"]["subsets"][0]["addresses"] == [{"ip": "10.244.0.1"}]
    assert objs["Endpoints"]["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"]
    slice_ = objs["EndpointSlice"]
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == keda_objects.SERVICE
    assert slice_["ports"][0]["port"] == 16443
    spec = objs["APIService"]["spec"]
    assert base64.b64decode(spec["caBundle"]) == b"PEM"
    assert spec["service"] == {
        "name": keda_objects.SERVICE,
        "namespace": "kube-system",
        "port": 443,
    }


def test_another_external_metrics_server_is_not_taken_over() -> None:
    other = {"spec": {"service": {"name": "prometheus-adapter", "namespace": "monitoring"}}}
    assert "monitoring/prometheus-adapter" in (keda_objects.owner_conflict(other) or "")
    ours = {"spec": {"service": {"name": keda_objects.SERVICE, "namespace": "kube-system"}}}
    assert keda_objects.owner_conflict(ours) is None
    assert keda_objects.owner_conflict(None) is None


def test_availability_quotes_the_aggregators_reason() -> None:
    down = {
        "status": {
            "conditions": [
                {"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck"}
            ]
        }
    }
    assert "FailedDiscoveryCheck" in (keda_objects.available(down) or "")
    up = {"status": {"conditions": [{"type": "Available", "status": "True"}]}}
    assert keda_objects.available(up) is None
    assert "not registered" in (keda_objects.available(None) or "")


def test_addon_satisfies_the_protocol_and_stops_the_adapter_first() -> None:
    assert isinstance(keda.ADDON, Addon)
    # enable() and stop_all() stop processes in reverse order: the adapter before the operator.
    assert keda.ADDON.processes == ("keda-operator", "keda-adapter")
    assert keda.ADDON.requires == ()


class FakeApi:
    """Records CRD creations; ``existing`` answer 409 as the API server does."""

    def __init__(self, existing: set[str]) -> None:
        self.existing = existing
        self.posted: list[str] = []

    def request(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        from servegate.cluster.api import ApiError

        name = body["metadata"]["name"]
        if name in self.existing:
            raise ApiError(409, "exists")
        self.posted.append(name)
        return body

    def get(self, path: str) -> Any:
        return {"status": {"conditions": [{"type": "Established", "status": "True"}]}}

    def close(self) -> None:
        pass


def test_only_missing_crds_are_created(tmp_path: Path) -> None:
    files = []
    for name in ("scaledobjects.keda.sh", "scaledjobs.keda.sh"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            yaml.safe_dump({"kind": "CustomResourceDefinition", "metadata": {"name": name}})
        )
        files.append(path)
    api: Any = FakeApi(existing={"scaledobjects.keda.sh"})
    assert keda_objects.install_crds(api, files) == ["scaledjobs.keda.sh"]
    assert api.posted == ["scaledjobs.keda.sh"]
