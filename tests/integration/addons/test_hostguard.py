"""The loopback-only port guard: inserted, listed, and removed without a trace."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from servegate.cluster.addons import hostguard

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("iptables") is None, reason="needs root and iptables"
    ),
]


def _input_rules() -> str:
    return subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True).stdout


def test_guard_then_unguard_leaves_input_chain_as_it_was() -> None:
    before = _input_rules()
    try:
        hostguard.guard("sgtest", 64999)
        hostguard.guard("sgtest", 64998)  # a restart replaces, never stacks
        assert hostguard.guarded_ports("sgtest") == [64998]
        assert "! -i lo" in _input_rules()
    finally:
        hostguard.unguard("sgtest")
    assert hostguard.guarded_ports("sgtest") == []
    assert _input_rules() == before
