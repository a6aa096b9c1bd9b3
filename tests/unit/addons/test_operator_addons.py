"""The KubeRay and KServe add-ons' pure parts: wrapper go.mod, KServe's config, argv."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from servegate.cluster import addons
from servegate.cluster.addons import kserve, kserve_build, kuberay, wrapbuild
from servegate.cluster.addons.base import Addon
from servegate.errors import UserError

KSERVE_GOMOD = """module github.com/kserve/kserve

go 1.24.1

require (
\tk8s.io/api v0.33.1
)

replace sigs.k8s.io/controller-runtime => sigs.k8s.io/controller-runtime v0.19.7

replace (
\tgithub.com/a/b v1.0.0 => github.com/c/b v1.0.1 // pinned fork
)
"""


def test_wrapper_repeats_module_replaces_and_requires_the_version() -> None:
    text = wrapbuild.wrapper_gomod("kserve", kserve_build.MODULE, "v0.16.0", KSERVE_GOMOD)
    lines = text.splitlines()
    assert lines[0] == "module servegate.invalid/build/kserve"
    assert "go 1.24.1" in lines
    assert "require github.com/kserve/kserve v0.16.0" in lines
    assert (
        "replace sigs.k8s.io/controller-runtime => sigs.k8s.io/controller-runtime v0.19.7" in lines
    )
    assert "replace github.com/a/b v1.0.0 => github.com/c/b v1.0.1" in lines
    assert not any("k8s.io/api" in line for line in lines)


def test_local_directory_replace_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match=re.escape("local replace (replace x => ./x)")):
        wrapbuild.copied_directives("replace x => ./x\n")


def test_kserve_config_is_raw_deployment_without_ingress() -> None:
    data = {k: json.loads(v) for k, v in kserve.config_data().items()}
    assert data["deploy"]["defaultDeploymentMode"] == "RawDeployment"
    ingress = data["ingress"]
    assert ingress["disableIngressCreation"] is True
    assert ingress["disableIstioVirtualHost"] is True
    assert ingress["ingressGateway"], "KServe refuses an ingress config without a gateway"
    # Hostnames are <name>.<namespace>.svc.cluster.local: no label joins name and namespace,
    # which would exceed 63 characters with servegate's run namespaces.
    assert ingress["domainTemplate"].startswith("{{ .Name }}.{{ .Namespace }}.")
    quantities = ("memoryRequest", "memoryLimit", "cpuRequest", "cpuLimit", "cpuModelcar")
    assert all(data["storageInitializer"][q] for q in quantities)


def test_kserve_objects_are_namespace_then_its_configmap() -> None:
    (ns_path, ns), (cm_path, cm) = kserve.objects()
    assert ns_path == "/api/v1/namespaces" and ns["metadata"]["name"] == kserve.NAMESPACE
    assert cm_path == f"/api/v1/namespaces/{kserve.NAMESPACE}/configmaps"
    assert cm["metadata"]["name"] == "inferenceservice-config"
    assert cm["metadata"]["labels"]["servegate.io/addon"] == "kserve"


def test_listeners_are_on_loopback_and_leader_election_off() -> None:
    ports = {"metrics": 1, "probe": 2, "webhook": 3}
    ks = kserve.argv("/bin/kserve", ports)
    assert "--leader-elect=false" in ks
    assert "--metrics-addr=127.0.0.1:1" in ks and "--health-probe-addr=127.0.0.1:2" in ks
    kr = kuberay.argv("/bin/ray", Path("/kc"), 4, 5)
    assert "--enable-leader-election=false" in kr and "--kubeconfig=/kc" in kr
    assert "--metrics-addr=127.0.0.1:4" in kr and "--health-probe-bind-address=127.0.0.1:5" in kr
    assert "--use-kubernetes-proxy" in kr  # the host cannot resolve the head Service's name


@pytest.mark.parametrize("name", ["kserve", "kuberay"])
def test_registered_and_loadable(name: str) -> None:
    addon = addons.load(name)
    assert isinstance(addon, Addon)
    assert addon.name == name and addon.processes
