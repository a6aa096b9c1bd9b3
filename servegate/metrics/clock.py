"""Wall-anchored monotonic clock.

``now_ns()`` advances with ``time.perf_counter_ns()`` (CLOCK_MONOTONIC on Linux, shared by
every process on the host) but is offset once per process so its value reads as Unix time.
Differences are exact monotonic durations; absolute values line up across processes on one
host to within the anchor's error (microseconds), and across hosts to within NTP.
"""

from __future__ import annotations

import struct
import sys
import time

# Whether this platform stamps received packets in a form servegate.load.stamps reads
# (Linux, 64-bit time_t): the workers' plain-HTTP arrival times are then the kernel's.
KERNEL_RX_STAMPS = sys.platform == "linux" and struct.calcsize("P") == 8

_ANCHOR_WALL = time.time_ns()
_ANCHOR_MONO = time.perf_counter_ns()
_OFFSET = _ANCHOR_WALL - _ANCHOR_MONO


def now_ns() -> int:
    return time.perf_counter_ns() + _OFFSET


def mono_to_wall(mono_ns: int) -> int:
    """Convert a raw ``perf_counter_ns()`` reading of this process to wall-anchored ns."""
    return mono_ns + _OFFSET
