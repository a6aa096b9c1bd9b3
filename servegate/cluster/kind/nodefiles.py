"""The files servegate writes into its kind node image, as text.

kind runs the node image as a privileged container, waits until its log shows systemd
reached the multi-user target (or the line "detected cgroup v1"), then drives kubeadm
inside it. What the image needs for that, beyond Debian's packages, is here: the
entrypoint that prepares the container for systemd and the kubelet, the kubelet's systemd
unit, containerd's configuration, a static CNI configuration, and kind's metadata files.
Pure functions of a few settings, so they are unit-tested without Docker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import tomli_w

POD_SUBNET = "10.244.0.0/16"
"""The cluster's pod range (kind's default, given to kubeadm by the cluster config)."""
NODE_POD_CIDR = "10.244.0.0/24"
"""The first /24 of POD_SUBNET: what the controller manager gives the one node."""
SERVICE_SUBNET = "10.96.0.0/16"
BRIDGE = "sgkind0"
"""The pod bridge inside the node's network namespace (never on the host)."""
BRIDGE_ADDRESS = "10.244.0.1"
"""The bridge's own address in the node (first host of NODE_POD_CIDR)."""
POD_RESOLV_CONF = "/etc/servegate/resolv.conf"
"""The resolv.conf the kubelet hands to pods with dnsPolicy Default, CoreDNS among them.

Docker's resolver (127.0.0.11) is a loopback address: from CoreDNS's own namespace it is
CoreDNS itself, and its loop plugin stops it. The node's bridge address answers nothing on
port 53, so names outside the cluster fail at once and no query leaves the node."""
NO_REGISTRY = "http://127.0.0.1:9"
REGISTRIES = ("_default", "docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "nvcr.io")


@dataclass(frozen=True)
class NodeFile:
    path: str
    text: str
    mode: int = 0o644


ENTRYPOINT = r"""#!/bin/bash
# servegate's kind node entrypoint. It prepares this privileged container for systemd and
# the kubelet, then replaces itself with the command it was given (systemd, /sbin/init).
set -o errexit -o nounset -o pipefail

note() { echo "servegate-node: $*" >&2; }

# Inside a container systemd expects /sys read-only; --privileged mounts it read-write.
mount -o remount,ro /sys || note "could not remount /sys read-only"
# The kubelet's volume mounts must reach the containers it starts.
mount --make-rshared /

if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  note "detected cgroup v2"
else
  # kind waits for this line (or systemd's multi-user target) before it goes on.
  note "detected cgroup v1"
  if ! awk -F: '$2 ~ /(^|,)cpu(,|$)/ && $3 != "/" {bad=1} END {exit bad}' /proc/self/cgroup; then
    note "this container has no private cgroup namespace (docker run --cgroupns=private)"
    exit 1
  fi
  # The kubelet runs pods under /kubelet.slice and checks it exists in every hierarchy;
  # systemd creates it only where it accounts. Create it everywhere, and bind it onto itself
  # so systemd does not remove the ones it does not manage.
  mount --make-rprivate /sys/fs/cgroup
  for hierarchy in /sys/fs/cgroup/*; do
    [[ -d "$hierarchy" && ! -L "$hierarchy" ]] || continue
    [[ "$(stat -f -c %T "$hierarchy")" == cgroupfs ]] || continue
    [[ "$hierarchy" == */unified ]] && continue
    for slice in kubelet kubelet.slice; do
      dir="$hierarchy/$slice"
      mkdir -p "$dir"
      if [[ -f "$hierarchy/cpuset.cpus" ]]; then
        cat "$hierarchy/cpuset.cpus" > "$dir/cpuset.cpus"
        cat "$hierarchy/cpuset.mems" > "$dir/cpuset.mems"
      fi
      mountpoint -q "$dir" || mount --bind "$dir" "$dir"
    done
  done
fi

note "starting $*"
exec "$@"
"""

KUBELET_UNIT = """[Unit]
Description=kubelet (configured by kubeadm)
# kubeadm writes the configuration and then starts the unit; before that it waits.
ConditionPathExists=/var/lib/kubelet/config.yaml
After=containerd.service
StartLimitIntervalSec=0

[Service]
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=/usr/bin/kubelet \\
    --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \\
    --kubeconfig=/etc/kubernetes/kubelet.conf \\
    --config=/var/lib/kubelet/config.yaml \\
    $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
Restart=always
RestartSec=1s
Slice=kubelet.slice
CPUAccounting=true
MemoryAccounting=true
KillMode=process

[Install]
WantedBy=multi-user.target
"""

KUBELET_SLICE = """[Unit]
Description=The kubelet and the pods it runs
Before=slices.target

[Slice]
CPUAccounting=true
MemoryAccounting=true
"""

KUBELET_DEFAULTS = "KUBELET_EXTRA_ARGS=--runtime-cgroups=/system.slice/containerd.service\n"

EGRESS_GUARD_UNIT = f"""[Unit]
Description=Pods may not send traffic out of the node (only to pods, Services, the node)
After=network.target
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/iptables -w -I FORWARD 1 -s {POD_SUBNET} -o eth0 -j DROP

[Install]
WantedBy=multi-user.target
"""

JOURNALD = "[Journal]\n# The host's kernel log is not this node's.\nReadKMsg=no\n"

STORAGE = """# The default StorageClass: the controller manager's in-tree hostPath provisioner
# (kind enables it), so claims bind without a provisioner image.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
"""

MASKED_UNITS = (
    # kernel-wide settings a container must not change on the host
    "systemd-binfmt.service",
    "systemd-sysctl.service",
    "systemd-modules-load.service",
    # no consoles to log in on
    "getty.target",
    "console-getty.service",
    # no network fetches or disk maintenance from inside the node
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "fstrim.timer",
)

ENABLED_UNITS = (
    "kubelet.service",
    "servegate-egress-guard.service",
)


def containerd_config(sandbox_image: str) -> str:
    """containerd 1.6 (config version 2) in the node: systemd cgroups as kind's kubelet
    expects, our pause image, Debian's CNI plugins, and no registry reachable."""
    cri = {
        "sandbox_image": sandbox_image,
        "tolerate_missing_hugepages_controller": True,
        # Set to true by a containerdConfigPatches entry on hosts without CAP_SYS_RESOURCE.
        "restrict_oom_score_adj": False,
        "containerd": {
            "snapshotter": "overlayfs",
            "default_runtime_name": "runc",
            "runtimes": {
                "runc": {
                    "runtime_type": "io.containerd.runc.v2",
                    "options": {"SystemdCgroup": True},
                }
            },
        },
        "cni": {"bin_dir": "/usr/lib/cni", "conf_dir": "/etc/cni/net.d"},
        "registry": {"config_path": "/etc/containerd/certs.d"},
    }
    return tomli_w.dumps({"version": 2, "plugins": {"io.containerd.grpc.v1.cri": cri}})


def registry_hosts() -> str:
    """Every registry resolves to a closed loopback port: a missing image fails at once."""
    return tomli_w.dumps(
        {"server": NO_REGISTRY, "host": {NO_REGISTRY: {"capabilities": ["pull", "resolve"]}}}
    )


def cni_conflist() -> str:
    """One bridge in the node's namespace; host-local hands out the node's /24.

    Static, so the node needs no CNI image: kind's own CNI is switched off in the cluster
    config (``disableDefaultCNI``). One node only: pods of a second node could not be reached.
    """
    doc = {
        "cniVersion": "0.4.0",
        "name": "servegate-kind",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": NODE_POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def node_files(kubernetes_version: str, sandbox_image: str) -> list[NodeFile]:
    """Every text file of the node image's servegate layer (binaries are added beside)."""
    files = [
        NodeFile("/usr/local/bin/entrypoint", ENTRYPOINT, 0o755),
        NodeFile("/etc/systemd/system/kubelet.service", KUBELET_UNIT),
        NodeFile("/etc/systemd/system/kubelet.slice", KUBELET_SLICE),
        NodeFile("/etc/systemd/system/servegate-egress-guard.service", EGRESS_GUARD_UNIT),
        NodeFile("/etc/systemd/journald.conf.d/servegate.conf", JOURNALD),
        NodeFile("/etc/default/kubelet", KUBELET_DEFAULTS),
        NodeFile("/etc/containerd/config.toml", containerd_config(sandbox_image)),
        NodeFile("/etc/cni/net.d/10-servegate.conflist", cni_conflist()),
        NodeFile("/kind/version", kubernetes_version + "\n"),
        NodeFile("/kind/manifests/default-storage.yaml", STORAGE),
        # systemd makes a fresh machine id at every boot when this file is empty
        NodeFile("/etc/machine-id", ""),
        NodeFile(
            POD_RESOLV_CONF,
            "# pods with dnsPolicy Default (CoreDNS): nothing answers here, by design\n"
            f"nameserver {BRIDGE_ADDRESS}\n",
        ),
    ]
    files += [
        NodeFile(f"/etc/containerd/certs.d/{host}/hosts.toml", registry_hosts())
        for host in REGISTRIES
    ]
    return files


def unit_links() -> dict[str, str]:
    """Symlinks (path -> target) that mask and enable units, as systemctl would."""
    links = {f"/etc/systemd/system/{unit}": "/dev/null" for unit in MASKED_UNITS}
    for unit in ENABLED_UNITS:
        links[f"/etc/systemd/system/multi-user.target.wants/{unit}"] = f"/etc/systemd/system/{unit}"
    return links
