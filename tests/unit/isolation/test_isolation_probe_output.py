"""How a probe's printed line becomes a cell: blocked only when the network said no."""

from __future__ import annotations

import pytest

from servegate.checks.isolation.probes import _blocked


@pytest.mark.parametrize(
    ("line", "blocked"),
    [
        ("unreachable 10.0.0.5:8000 dial tcp 10.0.0.5:8000: connect: connection refused", True),
        ("unreachable 10.0.0.5:8000 dial tcp 10.0.0.5:8000: i/o timeout", True),
        ("unreachable 10.0.0.5:8000 dial tcp 10.0.0.5:8000: connect: no route to host", True),
        ("unreachable None:8000 dial tcp: lookup None: no such host", False),
        ("unreachable :8000 dial tcp: missing address", False),
    ],
)
def test_only_network_refusals_count_as_blocked(line: str, blocked: bool) -> None:
    assert _blocked(line) is blocked
