"""The node's rendered configs keep their safety properties (no traffic leaves our networks,
no system paths, images are never garbage-collected) without starting anything."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path

import pytest
import tomli_w
import yaml

from servegate.cluster.node import addons, configs, containerd, net
from servegate.cluster.node.layout import BRIDGE, GpuSpec, Layout, NodeSpec
from servegate.errors import ConfigError, UserError


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "node")


def _under(path: str, root: Path) -> bool:
    return Path(path).is_relative_to(root)


def test_cni_has_no_masquerade_and_no_default_route(layout: Layout) -> None:
    spec = NodeSpec()
    bridge = configs.cni_conflist(spec, layout)["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == BRIDGE
    assert bridge["ipMasq"] is False
    assert bridge["isDefaultGateway"] is False
    routes = bridge["ipam"]["routes"]
    assert [r["dst"] for r in routes] == [spec.service_cidr]
    assert all(ipaddress.ip_network(r["dst"]).is_private for r in routes)
    assert _under(bridge["ipam"]["dataDir"], layout.root)
    (rng,) = bridge["ipam"]["ranges"][0]
    assert ipaddress.ip_address(rng["gateway"]) in ipaddress.ip_network(rng["subnet"])


def test_containerd_config_uses_only_our_paths_and_cgroupfs(
    layout: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = containerd.render_config(layout, "servegate.local/pause:9")
    # The rendered config survives a TOML round trip (what containerd will read).
    cfg = tomllib.loads(tomli_w.dumps(cfg))
    assert _under(cfg["state"], layout.root)
    # Images persist in the user cache (one real node per host), never in /var/lib.
    assert _under(cfg["root"], tmp_path / "cache" / "servegate")
    assert _under(cfg["grpc"]["address"], layout.root)
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "servegate.local/pause:9"
    assert cri["netns_mounts_under_state_dir"] is True
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert runc["SystemdCgroup"] is False
    assert "BinaryName" not in runc  # the runc on PATH (Debian's), no wrapper
    assert _under(runc["Root"], layout.root)
    assert _under(cri["cni"]["conf_dir"], layout.root)


def test_kubelet_config_for_cgroup_v1_and_our_socket(layout: Layout, tmp_path: Path) -> None:
    spec = NodeSpec(pod_cidr="10.250.0.0/24")
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = configs.kubelet_config(spec, layout, client_ca=ca)
    assert cfg["failCgroupV1"] is False
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["containerRuntimeEndpoint"] == f"unix://{layout.containerd_socket}"
    assert cfg["podCIDR"] == "10.250.0.0/24"
    assert cfg["address"] == "10.250.0.1"
    assert cfg["healthzBindAddress"] == "127.0.0.1"
    assert cfg["imageGCHighThresholdPercent"] == 100  # our images cannot be pulled again
    assert cfg["authentication"]["x509"]["clientCAFile"] == str(ca)
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["authentication"]["webhook"]["enabled"] is True
    assert cfg["authorization"]["mode"] == "Webhook"
    assert cfg["readOnlyPort"] == 0  # the unauthenticated read-only API is off
    args = configs.kubelet_args(spec, layout, Path("/bin/kubelet"), Path("/k.conf"))
    assert f"--root-dir={layout.kubelet_dir}" in args
    assert f"--hostname-override={spec.name}" in args


@pytest.mark.parametrize("ca", [None, Path("/nonexistent/ca.crt")])
def test_kubelet_without_a_client_ca_refuses_instead_of_failing_open(
    layout: Layout, ca: Path | None
) -> None:
    # Before issue 14, no CA gave anonymous access and AlwaysAllow authorisation.
    with pytest.raises(UserError, match=r"kubelet: no client CA .* refusing to serve its API"):
        configs.kubelet_config(NodeSpec(), layout, client_ca=ca)
    assert not layout.kubelet_config.exists()  # nothing written that a kubelet could start on


def test_kubelet_auth_fails_closed_for_any_directory_given_as_ca(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a file"):
        configs.kubelet_auth(tmp_path)


def test_kube_proxy_iptables_on_loopback_without_sysctl_changes() -> None:
    cfg = configs.kube_proxy_config(NodeSpec(), Path("/k.conf"))
    assert cfg["mode"] == "iptables"
    assert cfg["iptables"]["localhostNodePorts"] is False
    assert cfg["iptables"]["masqueradeAll"] is False
    assert cfg["conntrack"]["maxPerCore"] == 0
    for key in ("healthzBindAddress", "metricsBindAddress"):
        assert ipaddress.ip_address(cfg[key].rsplit(":", 1)[0]).is_loopback


def test_corefile_binds_bridge_and_never_forwards() -> None:
    spec = NodeSpec()
    text = configs.corefile(spec, Path("/k.conf"), 9153)
    assert text.count(f"bind {spec.gateway}") == 2
    assert "forward" not in text
    assert "kubeconfig /k.conf" in text


def test_kube_dns_objects_point_at_the_bridge() -> None:
    spec = NodeSpec()
    svc, eps = addons.kube_dns_objects(spec)
    assert svc["spec"]["clusterIP"] == spec.cluster_dns
    assert "selector" not in svc["spec"]
    assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    (endpoint,) = eps["endpoints"]
    assert endpoint["addresses"] == [spec.gateway]
    assert not ipaddress.ip_address(spec.gateway).is_loopback


def test_prometheus_reads_the_pod_target_file() -> None:
    cfg = configs.prometheus_config(Path("/s/pods.json"))
    (job,) = cfg["scrape_configs"]
    assert job["file_sd_configs"][0]["files"] == ["/s/pods.json"]
    assert "kubernetes_sd_configs" not in job  # Debian's build has no kubernetes_sd
    yaml.safe_dump(cfg)  # serialisable for the config file


def test_gpu_resources_and_labels() -> None:
    gpus = GpuSpec(count=2, mig_1g_5gb=3, timeslice_replicas=4, memory_mib=81920)
    assert gpus.resources() == {
        "nvidia.com/gpu": 2,
        "nvidia.com/mig-1g.5gb": 3,
        "nvidia.com/gpu.shared": 8,
    }
    labels = gpus.labels()
    assert labels["nvidia.com/gpu.count"] == "3"  # 2 whole GPUs + the MIG-partitioned one
    assert labels["nvidia.com/gpu.memory"] == "81920"
    assert labels["nvidia.com/gpu.present"] == "true"
    plain = GpuSpec(mig_1g_5gb=0, timeslice_replicas=0)
    assert set(plain.resources()) == {"nvidia.com/gpu"}
    assert "nvidia.com/gpu.replicas" not in plain.labels()
    assert plain.labels()["nvidia.com/gpu.count"] == str(plain.count)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"pod_cidr": "10.96.0.0/24"}, "overlaps"),
        ({"cluster_dns": "10.244.0.10"}, "not inside"),
        ({"pod_cidr": "8.8.8.0/24"}, "private"),
        ({"pod_cidr": "not-a-cidr"}, "node settings"),
    ],
)
def test_node_spec_rejects_bad_ranges(kwargs: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        NodeSpec(**kwargs)  # type: ignore[arg-type]


def test_layout_refuses_socket_paths_beyond_the_kernel_limit() -> None:
    Layout(Path("/root/.local/state/servegate/cluster/default/node")).check()
    with pytest.raises(ConfigError, match="too long"):
        Layout(Path("/") / ("x" * 80)).check()


def test_forward_guard_accepts_only_the_pod_network_then_drops() -> None:
    spec = NodeSpec()
    rules = net.guard_rules(spec)
    assert rules[-1] == ["-j", "DROP"]
    accepts = [r for r in rules if r[-1] == "ACCEPT"]
    assert accepts == [["-d", spec.pod_cidr, "-o", BRIDGE, "-j", "ACCEPT"]]


def test_device_plugin_dir_is_the_kubelets_fixed_path(layout: Layout) -> None:
    # The kubelet ignores --root-dir for device plugins; sockets must go where it listens.
    assert layout.device_plugins_dir == Path("/var/lib/kubelet/device-plugins")
    assert not _under(str(layout.device_plugins_dir), layout.root)


def test_every_registry_pull_goes_to_a_closed_loopback_port(layout: Layout) -> None:
    containerd.write_config(layout, "servegate.local/pause:9")
    cfg = tomllib.loads(layout.containerd_config.read_text())
    certs = Path(cfg["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"])
    assert _under(str(certs), layout.root)
    default = tomllib.loads((certs / "_default" / "hosts.toml").read_text())
    assert ipaddress.ip_address(default["server"].split("/")[2].split(":")[0]).is_loopback
    (host,) = default["host"]  # containerd 1.6 ignores a hosts.toml without a host tree
    assert host == default["server"]
