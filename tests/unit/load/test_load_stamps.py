"""Kernel arrival stamps (servegate.load.stamps), checked in a child: it imports gevent."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import json, socket, struct, time
    from servegate.load.stamps import STAMPS, StampedSocket, arrival_ns, SCM_TIMESTAMPNS
    from servegate.load.worker import Transport
    from geventhttpclient.connectionpool import SSLConnectionPool

    out = {}
    # a packet that waited 30 ms in the socket before it was read keeps its arrival time
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen()
    cli = StampedSocket(socket.AF_INET, socket.SOCK_STREAM)
    cli.connect(lst.getsockname())
    cli.enable_stamps()
    srv, _ = lst.accept()
    # the first packets after a host's first request for stamps may come without one
    for _ in range(3):
        srv.sendall(b"warm")
        time.sleep(0.005)
        cli.recv(4096)
    written = time.perf_counter_ns()
    srv.sendall(b"data: x\\n\\n")
    time.sleep(0.2)
    read_at = time.perf_counter_ns()
    data = cli.recv(4096)
    out["kernel"] = cli.kernel
    out["data"] = data.decode()
    out["after_write_ms"] = (STAMPS.rx_ns - written) / 1e6
    out["before_read_ms"] = (read_at - STAMPS.rx_ns) / 1e6
    cli.sendall(b"ping")
    out["sent_after_read"] = STAMPS.sent_ns >= read_at
    for s in (cli, srv, lst):
        s.close()

    # conversion from the realtime clock, clamping, and no stamp at all. A stamp taken 5 ms
    # before a realtime reading made between monotonic readings m0 and m1 lies in
    # [m0, m1] - 5 ms; the conversion reads both clocks within its own call [a0, a1], which
    # may put it later by up to that call's length: bounds from the clocks, not from a guess
    # of how fast this machine is.
    m0 = time.perf_counter_ns()
    real = time.time_ns() - 5_000_000
    m1 = time.perf_counter_ns()
    msg = struct.pack("qq", real // 10**9, real % 10**9)
    a0 = time.perf_counter_ns()
    got = arrival_ns([(socket.SOL_SOCKET, SCM_TIMESTAMPNS, msg)])
    a1 = time.perf_counter_ns()
    slack = 10_000  # clock resolution and slew, in ns
    out["converted"] = m0 - 5_000_000 - slack <= got <= m1 - 5_000_000 + (a1 - a0) + slack
    future = time.time_ns() + 10**9
    fut = struct.pack("qq", future // 10**9, future % 10**9)
    a0 = time.perf_counter_ns()
    got = arrival_ns([(socket.SOL_SOCKET, SCM_TIMESTAMPNS, fut)])
    out["future_clamped"] = a0 <= got <= time.perf_counter_ns()
    a0 = time.perf_counter_ns()
    got = arrival_ns([])
    out["none_is_now"] = a0 <= got <= time.perf_counter_ns()

    # plain HTTP transports use the stamping pool; TLS ones keep geventhttpclient's own
    plain = Transport("http://127.0.0.1:9/v1", 4, 5.0)
    tls = Transport("https://127.0.0.1:9/v1", 4, 5.0)
    out["plain"] = [plain.stamped, type(plain.client._connection_pool).__name__]
    out["tls"] = [tls.stamped, isinstance(tls.client._connection_pool, SSLConnectionPool)]
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def child() -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_a_read_is_timed_by_the_packet_arrival_not_the_read(child: dict[str, object]) -> None:
    assert child["kernel"] is True
    assert child["data"] == "data: x\n\n"
    # stamped in the sender's write on loopback, not 200 ms later when the reader got to it.
    # The bounds leave room for a loaded machine: converting the realtime stamp may be off
    # by a preemption between two clock reads, and the loopback delivery may be deferred.
    assert -50 <= float(child["after_write_ms"]) < 100  # type: ignore[arg-type]
    assert float(child["before_read_ms"]) >= 100  # type: ignore[arg-type]
    assert child["sent_after_read"] is True


def test_realtime_stamps_convert_to_the_monotonic_clock(child: dict[str, object]) -> None:
    assert child["converted"] is True
    assert child["future_clamped"] is True
    assert child["none_is_now"] is True


def test_only_plain_http_transports_stamp(child: dict[str, object]) -> None:
    assert child["plain"] == [True, "StampedPool"]
    assert child["tls"] == [False, True]
