"""images/runcwrap, the OCI runtime servegate's dockerd uses on hosts without CAP_SYS_RESOURCE:
it removes the capabilities this host's bounding set lacks from what runc is asked to grant,
keeps everything else, and runs runc with the very same arguments.

Runs the real wrapper (built with Go, cached) in front of a stand-in runc that records what
it was given. Which capabilities are removed depends on the host; the expectation is derived
from /proc/self/status, the way the wrapper itself reads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from servegate.cluster.kind.dockerhost import bounding_set

pytestmark = pytest.mark.integration

# linux/capability.h numbers of the capabilities used below
CAPS = {"CAP_CHOWN": 0, "CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24}
ASKED = list(CAPS)
RECORDER = """import json, os, sys
out = {"argv": sys.argv[1:]}
args = sys.argv[1:]
for flag in ("--bundle", "--process"):
    if flag in args:
        path = args[args.index(flag) + 1]
        path = os.path.join(path, "config.json") if flag == "--bundle" else path
        out["file"] = json.load(open(path))
json.dump(out, open(os.environ["RECORD"], "w"))
"""


@pytest.fixture(scope="module")
def wrapper() -> Path:
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        pytest.skip("Go is needed to build images/runcwrap")
    from servegate.cluster.node import gobuild

    return gobuild.build("runcwrap")


def _granted() -> list[str]:
    bnd = bounding_set()
    return [name for name in ASKED if bnd >> CAPS[name] & 1]


def _run(wrapper: Path, tmp_path: Path, args: list[str]) -> dict[str, object]:
    fake = tmp_path / "runc"
    fake.write_text(f"#!{sys.executable}\n{RECORDER}")
    fake.chmod(0o755)
    record = tmp_path / "record.json"
    env = {**os.environ, "SERVEGATE_RUNC": str(fake), "RECORD": str(record)}
    proc = subprocess.run([str(wrapper), *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(record.read_text())
    assert isinstance(out, dict)
    return out


def test_create_keeps_arguments_and_drops_only_what_the_host_cannot_grant(
    wrapper: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    caps = {s: ASKED for s in ("bounding", "effective", "permitted")}
    spec = {
        "ociVersion": "1.0.2",
        "process": {"args": ["/pause"], "capabilities": caps, "cwd": "/"},
        "root": {"path": "rootfs"},
        "annotations": {"a": "b&c"},
    }
    (bundle / "config.json").write_text(json.dumps(spec))
    args = ["--root", "/r", "--log", "/l.json", "create", "--bundle", str(bundle), "c1"]
    got = _run(wrapper, tmp_path, args)
    assert got["argv"] == args
    written = got["file"]
    assert isinstance(written, dict)
    for name in ("bounding", "effective", "permitted"):
        assert written["process"]["capabilities"][name] == _granted()
    assert written["root"] == spec["root"] and written["annotations"] == spec["annotations"]
    assert written["process"]["args"] == ["/pause"]


def test_exec_process_file_is_edited_the_same_way(wrapper: Path, tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": {"bounding": ASKED}}))
    args = ["--root", "/r", "exec", "--process", str(process), "--detach", "c1"]
    got = _run(wrapper, tmp_path, args)
    assert got["argv"] == args
    file = got["file"]
    assert isinstance(file, dict)
    assert file["capabilities"]["bounding"] == _granted() and file["args"] == ["sh"]


def test_other_commands_pass_straight_through(wrapper: Path, tmp_path: Path) -> None:
    args = ["--root", "/r", "state", "c1"]
    assert _run(wrapper, tmp_path, args) == {"argv": args}
