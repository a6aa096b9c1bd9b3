"""Kernel arrival times for the load generator's plain-HTTP connections (worker side).

A chunk's time is the moment its bytes reached this host, not the moment the worker's
event loop got round to parsing them. At half its ceiling a worker is busy most of the
time, and a first token that lands while it parses other responses' chunks would otherwise
be stamped late by that queue (the generator's own delay, not the server's). Linux stamps
every received packet when a socket asks for it (``SO_TIMESTAMPNS``) and hands the stamp
of the newest packet a read consumed to ``recvmsg`` as a control message.

:class:`StampedSocket` is the gevent socket the connection pool makes: ``recv`` goes through
``recvmsg`` and keeps that stamp (converted from the realtime to the monotonic clock of
``perf_counter_ns``) in :data:`STAMPS` ``.rx_ns``; ``sendall`` keeps the moment before the
request's bytes go out in ``STAMPS.sent_ns``. :data:`STAMPS` is greenlet-local: a worker
greenlet sends one request at a time and reads only its own connection. Where the kernel
gives no stamp (not Linux, a platform without the option), ``rx_ns`` is the time the read
returned, as before. TLS connections read through the TLS layer and keep user-space stamps.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import gevent.local
import gevent.socket
from geventhttpclient.connectionpool import ConnectionPool

from servegate.metrics.clock import KERNEL_RX_STAMPS

# Linux asm-generic value; Python's socket module does not export it. 64-bit time_t only:
# 32-bit platforms deliver SO_TIMESTAMPNS_NEW, which this does not ask for.
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS

_TIMESPEC = struct.Struct("qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if KERNEL_RX_STAMPS else 0


class Stamps(gevent.local.local):  # type: ignore[misc]
    """The current greenlet's last send and last arrival (monotonic ns; 0: none yet)."""

    sent_ns = 0
    rx_ns = 0

    def reset(self) -> None:
        self.sent_ns = self.rx_ns = 0


STAMPS = Stamps()


def arrival_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The monotonic time of the packet stamp among ``ancillary``, else now.

    The kernel stamps with the realtime clock; the offset to the monotonic clock is read
    now (two clock reads apart: a few microseconds of noise), so a realtime step between the
    packet and this call would shift the stamp: it is clamped to now, never later than the
    user-space stamp it replaces. Right after the first socket of the host asks for stamps the
    kernel may still deliver a few packets without one; those get the user-space time.
    """
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(data)
            real, now = time.time_ns(), time.perf_counter_ns()
            return min(int(sec) * 1_000_000_000 + int(nsec) - (real - now), now)
    return time.perf_counter_ns()


class StampedSocket(gevent.socket.socket):  # type: ignore[misc]
    """A cooperative socket that notes when its reads arrived and its sends left, in STAMPS."""

    __slots__ = ("kernel",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kernel = False  # whether the kernel stamps this socket's packets

    def enable_stamps(self) -> None:
        if not KERNEL_RX_STAMPS:
            return
        try:
            self.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            return
        self.kernel = True

    def sendall(self, data: Any, flags: int = 0) -> Any:
        STAMPS.sent_ns = time.perf_counter_ns()
        return super().sendall(data, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if not self.kernel:
            data: bytes = super().recv(bufsize, flags)
            STAMPS.rx_ns = time.perf_counter_ns()
            return data
        data, ancillary, _flags, _addr = self.recvmsg(bufsize, _ANCILLARY, flags)
        STAMPS.rx_ns = arrival_ns(ancillary)
        return data


class StampedPool(ConnectionPool):
    """geventhttpclient's pool, making :class:`StampedSocket` connections."""

    def _create_tcp_socket(self, family: int, socktype: int, protocol: int) -> StampedSocket:
        return StampedSocket(family, socktype, protocol)

    def after_connect(self, sock: StampedSocket) -> None:
        sock.enable_stamps()
