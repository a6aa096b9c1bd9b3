"""Idle-CPU wake-up latency: describe the idle states, and optionally keep CPUs out of them.

A request's first chunk crosses cores twice (client to server, server to client). When the
receiving core is idle in a deep state (in a VM, ``hlt`` exits to the hypervisor), waking it
adds tens to hundreds of microseconds that show up as timing error, not as server latency.
Writing a latency limit to ``/dev/cpu_dma_latency`` and keeping the file open (the PM QoS
interface cyclictest uses) makes the idle governor pick only states that wake faster than
the limit; 0 means polling. The kernel drops the request when the file is closed, so the
setting lasts exactly as long as :func:`hold_wakeup_latency`'s block, even if the process
dies. Polling idle CPUs costs power (and host CPU in a VM): it is opt-in, and recorded.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from servegate.errors import UserError

QOS_DEVICE = Path("/dev/cpu_dma_latency")
CPUIDLE = Path("/sys/devices/system/cpu/cpuidle")
CPU0_STATES = Path("/sys/devices/system/cpu/cpu0/cpuidle")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def describe_idle(root: Path = CPUIDLE, states: Path = CPU0_STATES) -> str:
    """One line: idle driver, governor and cpu0's states with their exit latency (us)."""
    driver = _read(root / "current_driver")
    governor = _read(root / "current_governor") or _read(root / "current_governor_ro")
    if driver is None:
        return "no cpuidle driver"
    parts = []
    for state in sorted(states.glob("state[0-9]*"), key=lambda p: int(p.name[5:])):
        name, lat = _read(state / "name"), _read(state / "latency")
        if name is not None and lat is not None:
            off = " disabled" if _read(state / "disable") == "1" else ""
            parts.append(f"{name} {lat}us{off}")
    return f"driver {driver}, governor {governor or '?'}; states: {', '.join(parts) or 'none'}"


def current_limit_us(device: Path = QOS_DEVICE) -> int | None:
    """The system-wide limit now in force (all holders combined), or None if unreadable."""
    try:
        raw = device.read_bytes()[:4]
    except OSError:
        return None
    if len(raw) != 4:
        return None
    value: int = struct.unpack("<i", raw)[0]
    return value


@contextlib.contextmanager
def hold_wakeup_latency(limit_us: int | None, device: Path = QOS_DEVICE) -> Iterator[int | None]:
    """Keep idle CPUs within ``limit_us`` of waking for the block; None leaves them alone.

    Yields the limit in force afterwards (None when unreadable or not requested).
    """
    if limit_us is None:
        yield None
        return
    if limit_us < 0:
        raise UserError(f"CPU wake-up latency limit must be >= 0 us, not {limit_us}")
    try:
        fd = os.open(device, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise UserError(
            f"{device}: cannot hold a CPU wake-up latency limit: {exc.strerror or exc}"
            " (needs root, or write access to the device)"
        ) from None
    try:
        os.write(fd, struct.pack("<i", limit_us))
        yield current_limit_us(device)
    finally:
        os.close(fd)  # the kernel removes this request with the last reference


__all__ = ["current_limit_us", "describe_idle", "hold_wakeup_latency"]
