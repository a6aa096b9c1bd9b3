"""Waiting for a Service address to accept connections (kube-proxy lags behind Ready)."""

from __future__ import annotations

import socket

from servegate.k8s.endpoint import wait_accepting


def test_a_listening_port_is_accepted_and_a_closed_one_times_out() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        assert wait_accepting("127.0.0.1", port, timeout_s=2.0)
    # The port is closed now: nothing accepts, and the wait gives up.
    assert not wait_accepting("127.0.0.1", port, timeout_s=0.3)
