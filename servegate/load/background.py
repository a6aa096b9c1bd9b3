"""Background threads of a worker process must not take the core from its event loop.

A Locust worker is pinned to one core with its record-writing thread. Compressing a batch
of records there is milliseconds of CPU; at equal priority the scheduler let it run while
chunks waited on the loop, so every batch showed up as a periodic 1-2 ms read delay in the
TTFT timing error. At nice 19 (and never real-time, even when the worker was started under
SCHED_FIFO) the thread only gets the core while the loop is idle or when it has waited long.
"""

from __future__ import annotations

import contextlib
import os

BACKGROUND_NICE = 19


def lower_this_thread(niceness: int = BACKGROUND_NICE) -> int:
    """Make the calling OS thread a background one; returns its niceness afterwards."""
    with contextlib.suppress(OSError, AttributeError):
        if os.sched_getscheduler(0) != os.SCHED_OTHER:  # 0: this thread on Linux
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    with contextlib.suppress(OSError):
        # PRIO_PROCESS with 0 applies to the calling thread only on Linux (nice is per thread)
        cur = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, max(cur, niceness))
    return os.getpriority(os.PRIO_PROCESS, 0)


__all__ = ["BACKGROUND_NICE", "lower_this_thread"]
