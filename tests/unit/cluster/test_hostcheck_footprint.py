"""The interrupt soak's host counts (servegate.cluster.hostcheck.footprint): files under a
cluster's state directory count, except the contents of directories that change while any
cluster runs; a leftover is what is there now and was not before."""

from __future__ import annotations

from pathlib import Path

from servegate.cluster.hostcheck import FOOTPRINT_KINDS, Footprint, footprint


def _touch(root: Path, rel: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")


def test_files_count_what_a_run_leaves_not_what_churns(tmp_path: Path) -> None:
    state = tmp_path / "local"
    for rel in (
        "etcd/member/wal/0001.wal",
        "node/run/logs/kubelet.log",
        "node/kubelet/pods/uid-1/volumes/kubernetes.io~empty-dir/tmp/records.jsonl",
        "node/cni/ipam/servegate/10.244.0.7",
        "node/pod-logs/sg-x_vllm_uid-1/sim/0.log",
    ):
        _touch(state, rel)
    files = footprint(state).parts["files"]
    assert {"etcd", "node/run/logs", "node/kubelet/pods/uid-1/volumes"} <= files
    assert "node/cni/ipam/servegate/10.244.0.7" in files  # a pod's IP allocation
    assert "node/pod-logs/sg-x_vllm_uid-1/sim/0.log" in files  # a pod's log
    assert not any(f.startswith("etcd/") for f in files)
    assert "node/run/logs/kubelet.log" not in files
    assert not any("/volumes/" in f for f in files)


def test_leftovers_are_what_is_new_by_kind(tmp_path: Path) -> None:
    before = Footprint({k: frozenset({"a"}) for k in FOOTPRINT_KINDS})
    now = Footprint({**before.parts, "links": frozenset({"a", "veth1"}), "mounts": frozenset()})
    assert now.leftovers(before) == {"links": ["veth1"]}  # gone is not left
    assert before.leftovers(before) == {}
