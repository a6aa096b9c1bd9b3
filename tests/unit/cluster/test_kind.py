"""The kind provider's pure parts: the node image's files, the cluster configuration, the
Docker daemon's command line and host workarounds, the simulated GPUs. No Docker needed."""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from servegate.cluster.kind import config, dockerhost, gpus, nodefiles, nodeimage
from servegate.cluster.node.layout import DEVICE_PLUGINS_DIR, GpuSpec
from servegate.cluster.versions import load_versions
from servegate.errors import UserError

# kind v0.33.0 waits for a node container's log to match this (providers/common/cgroups.go).
KIND_NODE_READY = re.compile("Reached target .*Multi-User System.*|detected cgroup v1")


def _file(path: str) -> nodefiles.NodeFile:
    (found,) = [f for f in nodefiles.node_files("v1.32.13", "x/pause:1") if f.path == path]
    return found


def test_entrypoint_prints_the_line_kind_waits_for_on_cgroup_v1() -> None:
    text = _file("/usr/local/bin/entrypoint").text
    assert text.startswith("#!/bin/bash\n") and _file("/usr/local/bin/entrypoint").mode == 0o755
    lines = [ln for ln in text.splitlines() if "note" in ln and "cgroup v1" in ln]
    assert any(KIND_NODE_READY.search(ln) for ln in lines), lines
    assert 'exec "$@"' in text.splitlines()[-1]


def test_kind_version_file_is_one_line() -> None:
    # kind reads /kind/version and refuses anything but exactly one line
    assert _file("/kind/version").text.splitlines() == ["v1.32.13"]


def test_node_containerd_is_configured_for_kind_and_never_pulls() -> None:
    conf = tomllib.loads(_file("/etc/containerd/config.toml").text)
    cri = conf["plugins"]["io.containerd.grpc.v1.cri"]
    assert conf["version"] == 2 and cri["sandbox_image"] == "x/pause:1"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["restrict_oom_score_adj"] is False  # patched per host, see the config tests
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    hosts = [f for f in nodefiles.node_files("v1", "p:1") if f.path.endswith("hosts.toml")]
    assert {f.path.split("/")[-2] for f in hosts} >= {"_default", "docker.io", "registry.k8s.io"}
    for f in hosts:
        assert tomllib.loads(f.text)["server"] == "http://127.0.0.1:9"


def test_cni_is_one_bridge_inside_the_pod_subnet_without_masquerade() -> None:
    doc = json.loads(_file("/etc/cni/net.d/10-servegate.conflist").text)
    bridge = doc["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    subnet = ipaddress.IPv4Network(bridge["ipam"]["ranges"][0][0]["subnet"])
    assert subnet.subnet_of(ipaddress.IPv4Network(nodefiles.POD_SUBNET))
    assert next(subnet.hosts()) == ipaddress.ip_address(nodefiles.BRIDGE_ADDRESS)


def test_pods_cannot_leave_the_node_and_coredns_forwards_nowhere() -> None:
    guard = _file("/etc/systemd/system/servegate-egress-guard.service").text
    assert f"-s {nodefiles.POD_SUBNET} -o eth0 -j DROP" in guard
    resolv = _file(nodefiles.POD_RESOLV_CONF).text
    (server,) = [ln.split()[1] for ln in resolv.splitlines() if ln.startswith("nameserver")]
    # not loopback: from CoreDNS's own namespace a loopback resolver is CoreDNS (loop plugin)
    assert not ipaddress.ip_address(server).is_loopback
    assert server == nodefiles.BRIDGE_ADDRESS


def test_units_that_would_change_the_host_are_masked_and_kubelet_is_enabled() -> None:
    links = nodefiles.unit_links()
    for unit in ("systemd-sysctl.service", "systemd-binfmt.service", "apt-daily.timer"):
        assert links[f"/etc/systemd/system/{unit}"] == "/dev/null"
    wants = "/etc/systemd/system/multi-user.target.wants/"
    assert links[wants + "kubelet.service"] == "/etc/systemd/system/kubelet.service"
    unit = _file("/etc/systemd/system/kubelet.service").text
    assert "ConditionPathExists=/var/lib/kubelet/config.yaml" in unit  # kubeadm starts it
    assert "Slice=kubelet.slice" in unit


def _cfg(own: bool, restrict: bool) -> Any:
    cfg = config.ClusterConfig(
        "c1", "img:1", own, "servegate.local/kind", "v3.5.21", "v1.14.7", restrict
    )
    doc = yaml.safe_load(cfg.yaml())
    assert isinstance(doc, dict)
    return doc


def test_own_image_config_points_kubeadm_at_the_preloaded_images() -> None:
    doc = _cfg(own=True, restrict=False)
    assert doc["apiVersion"] == "kind.x-k8s.io/v1alpha4" and doc["name"] == "c1"
    assert doc["nodes"] == [{"role": "control-plane", "image": "img:1"}]
    net = doc["networking"]
    assert net["disableDefaultCNI"] is True and net["apiServerAddress"] == "127.0.0.1"
    assert net["podSubnet"] == nodefiles.POD_SUBNET
    patches = [yaml.safe_load(p) for p in doc["kubeadmConfigPatches"]]
    by_kind = {p["kind"]: p for p in patches}
    cc = by_kind["ClusterConfiguration"]
    assert cc["imageRepository"] == "servegate.local/kind"
    assert cc["etcd"]["local"]["imageTag"] == "v3.5.21" and cc["dns"]["imageTag"] == "v1.14.7"
    assert by_kind["KubeletConfiguration"]["resolvConf"] == nodefiles.POD_RESOLV_CONF
    assert "containerdConfigPatches" not in doc


def test_upstream_image_gets_no_kubeadm_patches_and_keeps_kind_cni() -> None:
    doc = _cfg(own=False, restrict=False)
    assert "kubeadmConfigPatches" not in doc
    assert "disableDefaultCNI" not in doc["networking"]


def test_restricted_host_patches_containerd_oom_score() -> None:
    doc = _cfg(own=False, restrict=True)
    (patch,) = doc["containerdConfigPatches"]
    cri = tomllib.loads(patch)["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri == {"restrict_oom_score_adj": True}


STATUS = "Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t{}\n"


@pytest.mark.parametrize(
    ("capbnd", "lacks"),
    [("000001fffeffffff", True), ("000001ffffffffff", False), ("0000000001000000", False)],
)
def test_sys_resource_is_read_from_the_bounding_set(capbnd: str, lacks: bool) -> None:
    assert dockerhost.lacks_sys_resource(STATUS.format(capbnd)) is lacks


def test_missing_capbnd_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="CapBnd"):
        dockerhost.bounding_set("Name:\tx\n")


def test_dockerd_keeps_everything_under_its_state_dir_and_off_host_networking(
    tmp_path: Path,
) -> None:
    host = dockerhost.DockerHost(root=tmp_path)
    argv = host.argv(Path("/usr/sbin/dockerd"), None)
    flags = dict(a.split("=", 1) for a in argv[1:])
    for flag in ("--data-root", "--exec-root", "--pidfile", "--config-file"):
        assert Path(flags[flag]).is_relative_to(tmp_path), flag
    assert flags["--host"] == f"unix://{tmp_path}/docker.sock"
    for flag in ("--iptables", "--ip6tables", "--ip-forward", "--ip-masq"):
        assert flags[flag] == "false", flag
    assert flags["--bridge"] == "none"
    assert "--default-runtime" not in flags
    wrapped = dict(a.split("=", 1) for a in host.argv(Path("/d"), Path("/w/runcwrap"))[1:])
    assert wrapped["--add-runtime"] == "sg-runc=/w/runcwrap"
    assert wrapped["--default-runtime"] == "sg-runc"


def test_our_endpoint_puts_its_cli_first_and_a_foreign_one_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    ours = dockerhost.Endpoint("unix:///s/docker.sock", Path("/s/bin/docker"), True)
    assert ours.env() == {"DOCKER_HOST": "unix:///s/docker.sock", "PATH": "/s/bin:/usr/bin"}
    theirs = dockerhost.Endpoint("tcp://h:2375", Path("/usr/bin/docker"), False)
    assert theirs.env()["PATH"] == "/usr/bin"


def test_stop_without_a_record_changes_nothing(tmp_path: Path) -> None:
    host = dockerhost.DockerHost(root=tmp_path)
    assert host.restore_host() == []
    assert host.leftovers() == []


def test_fake_gpu_daemonset_mounts_the_device_plugin_dir_and_never_pulls() -> None:
    spec = GpuSpec()
    ds = gpus.daemonset(spec)
    pod = ds["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["imagePullPolicy"] == "Never"
    assert {f"--resource={k}={v}" for k, v in spec.resources().items()} <= set(container["args"])
    (vol,) = pod["volumes"]
    assert vol["hostPath"]["path"] == str(DEVICE_PLUGINS_DIR)
    assert ds["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "servegate"
    labels = gpus.node_labels(spec)
    assert labels["nvidia.com/gpu.present"] == "true" and labels["servegate.io/node"] == "real"


def test_image_refs_follow_the_pinned_versions() -> None:
    v = load_versions()
    refs = nodeimage.image_refs(v)
    assert refs["kube-apiserver"] == f"{nodeimage.REPOSITORY}/kube-apiserver:{v.kubernetes}"
    assert refs["etcd"].endswith(f"/etcd:{v.etcd}")
    assert refs["coredns"].endswith(f"/coredns:{v.node['coredns']}")
    assert set(refs) == {*nodeimage.CONTROL_PLANE, "kube-proxy", "etcd", "coredns"}


def test_node_image_key_follows_its_inputs(tmp_path: Path) -> None:
    from servegate.cluster.binaries import Resolved

    def inputs(coredns_bytes: bytes) -> nodeimage._Inputs:
        bins = {}
        for name in nodeimage.BINARIES:
            p = tmp_path / name
            p.write_bytes(name.encode())
            bins[name] = Resolved(name, p, "cache")
        core = tmp_path / "coredns"
        core.write_bytes(coredns_bytes)
        parts = [tmp_path / f"{n}.tar" for n in ("pause", "node", "proxy")]
        return nodeimage._Inputs(load_versions(), bins, core, *parts)

    first = inputs(b"1")
    keys = (first.key(), first.preload_key())
    assert (first.key(), first.preload_key()) == keys  # stable while nothing changes
    changed = inputs(b"22")  # a different CoreDNS build: both keys move
    assert changed.key() != keys[0] and changed.preload_key() != keys[1]


def test_cli_kind_up_without_docker_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from servegate.cli import cli

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(dockerhost.DockerHost, "existing", lambda self: None)
    monkeypatch.setattr("shutil.which", lambda _n: None)
    res = CliRunner().invoke(cli, ["cluster", "up", "--provider", "kind", "--name", "k1"])
    assert res.exit_code == 1
    (line,) = [ln for ln in res.output.splitlines() if ln.strip()]
    assert line.startswith("Error: the kind provider needs Docker")
    res = CliRunner().invoke(cli, ["cluster", "status", "--provider", "kind", "--name", "k1"])
    assert res.exit_code == 1 and "no Docker daemon answers" in res.output


def test_stop_leaves_the_daemon_to_a_process_still_using_it(tmp_path: Path) -> None:
    import fcntl

    host = dockerhost.DockerHost(root=tmp_path)
    with (tmp_path / "lock").open("a") as other:  # as in_use() holds it while a cluster is made
        fcntl.flock(other, fcntl.LOCK_SH)
        assert host.stop() == ["dockerd left running: another servegate process is using it"]
    assert host.stop() == []  # the lock is free again: nothing ran, nothing to undo


def test_directories_docker_made_are_removed_or_left_to_a_running_local_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servegate.cluster.node.net import SYSCTLS_FILE
    from servegate.cluster.node.node import CREATED_DIRS

    shims, parent, other = tmp_path / "c" / "s", tmp_path / "c", tmp_path / "other"
    monkeypatch.setattr(dockerhost, "CREATED_PATHS", (str(shims), str(parent), str(other)))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    other.mkdir()
    before = dockerhost.host_state()  # other existed; the c tree did not
    shims.mkdir(parents=True)
    assert dockerhost._remove_created(before) == [f"removed {shims}", f"removed {parent}"]
    assert not parent.exists() and other.is_dir()  # what existed before is never touched
    # our shim directory now holds a running local node's shims: handed over, not removed
    node = tmp_path / "state" / "servegate" / "cluster" / "local" / "node"
    node.mkdir(parents=True)
    (node / SYSCTLS_FILE).write_text("{}")
    (node / CREATED_DIRS).write_text("[]")
    (shims / "sock").mkdir(parents=True)
    (done,) = dockerhost._remove_created(before)
    assert "left to the local node" in done and shims.is_dir()
    assert set(json.loads((node / CREATED_DIRS).read_text())) == {str(shims), str(parent)}
    # a node made them, then went down while our shims were inside: ours to remove now
    state = dockerhost.host_state()
    (node / CREATED_DIRS).unlink()
    (shims / "sock").rmdir()
    assert dockerhost._remove_created(state)[:2] == [f"removed {shims}", f"removed {parent}"]


def test_daemon_started_beside_a_local_node_leaves_its_sysctls_to_that_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The e2e order that left ip_forward on: kind up while the local node runs (ip_forward 1,
    set by the node), the local node down (back to the host's 0), then kind down."""
    proc = tmp_path / "proc"
    monkeypatch.setattr(dockerhost, "sysctl_path", lambda n: proc / n.replace(".", "/"))
    for name, value in (("net.ipv4.ip_forward", "1"), ("kernel.panic", "10")):
        dockerhost.sysctl_path(name).parent.mkdir(parents=True, exist_ok=True)
        dockerhost.sysctl_path(name).write_text(value)
    monkeypatch.setattr(dockerhost, "_forward_policy", lambda: None)
    monkeypatch.setattr(dockerhost, "_docker_chains", lambda: {})
    monkeypatch.setattr(dockerhost, "_remove_created", lambda _b: [])
    bridge_up = True
    monkeypatch.setattr(dockerhost, "link_exists", lambda _n: bridge_up)
    host = dockerhost.DockerHost(root=tmp_path / "docker")
    host.root.mkdir()
    host.record.write_text(json.dumps(dockerhost.state_to_restore()))
    assert json.loads(host.record.read_text())["sysctls"]["net.ipv4.ip_forward"] is None
    dockerhost.sysctl_path("net.ipv4.ip_forward").write_text("0")  # the node's down
    dockerhost.sysctl_path("kernel.panic").write_text("0")  # a kind node's kubelet, say
    bridge_up = False
    done = host.restore_host()
    assert dockerhost.sysctl_path("net.ipv4.ip_forward").read_text() == "0"
    assert dockerhost.sysctl_path("kernel.panic").read_text() == "10"
    assert done == ["kernel.panic back to 10"]
    # without a local node the daemon's record is the host's, and is put back
    dockerhost.sysctl_path("net.ipv4.ip_forward").write_text("0")
    host.record.write_text(json.dumps(dockerhost.state_to_restore()))
    dockerhost.sysctl_path("net.ipv4.ip_forward").write_text("1")
    assert host.restore_host() == ["net.ipv4.ip_forward back to 0"]
