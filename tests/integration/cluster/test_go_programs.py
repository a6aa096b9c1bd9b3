"""The Go tests of the node's own programs (images/*/..._test.go), run with the Go toolchain
that builds them for the cluster: podsd's ServiceMonitor targets, for one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from servegate.cluster.node.gobuild import _go
from servegate.paths import IMAGES

pytestmark = [pytest.mark.integration]

MODULES = sorted(p.parent for p in IMAGES.glob("*/go.mod") if any(p.parent.glob("*_test.go")))


def test_there_are_go_tests() -> None:
    assert Path(IMAGES / "nodetool") in MODULES


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_go_module_tests_pass(module: Path) -> None:
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local")
    done = subprocess.run(
        [_go(), "test", "-count=1", "./..."],
        cwd=module,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
