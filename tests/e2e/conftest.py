"""What the e2e tests that make their own local cluster share: its binaries, built here
when the cache lacks them, as the session's cluster would build them. A new machine then
runs these tests in `make test` instead of skipping them for "binaries not built"; they
skip (with the reason) only where nothing can be built, and fail instead where the local
cluster is required (``SERVEGATE_CLUSTER=local``, as CI sets it)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from servegate.cli import cli
from servegate.cluster.binaries import BinaryResolver
from servegate.cluster.local import CP_BINARIES, NODE_BINARIES
from servegate.cluster.versions import load_versions

LOCAL_BINARIES = (*CP_BINARIES, *NODE_BINARIES)


def missing_binaries() -> list[str]:
    resolver = BinaryResolver(load_versions(), allow_download=False, allow_build=False)
    return [n for n in LOCAL_BINARIES if resolver.lookup(n) is None]


@pytest.fixture(scope="session")
def local_binaries() -> None:
    """The local cluster's control-plane and node binaries are in the cache."""
    if not missing_binaries():
        return
    built = CliRunner().invoke(cli, ["cluster", "build"])
    if built.exit_code == 0 and not missing_binaries():
        return
    tail = " | ".join(built.output.strip().splitlines()[-3:])
    message = f"cannot build the local cluster's binaries: {tail}"
    if os.environ.get("SERVEGATE_CLUSTER") == "local":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
