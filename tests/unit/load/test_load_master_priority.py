"""The Locust master yields the CPU to workers: every thread of it gets a lower priority."""

from __future__ import annotations

import subprocess
import sys

# Run in a child: master.py imports gevent, which must never enter the pytest process, and
# niceness cannot be raised back without privileges.
CODE = """
import os, threading
ready, stop = threading.Event(), threading.Event()
def idle():
    ready.set()
    stop.wait()
t = threading.Thread(target=idle)
t.start()
ready.wait()
before = os.getpriority(os.PRIO_PROCESS, t.native_id)
from servegate.load.master import MASTER_NICE, yield_cpu_to_workers
yield_cpu_to_workers()
tids = [int(x) for x in os.listdir('/proc/self/task')]
after = {tid: os.getpriority(os.PRIO_PROCESS, tid) for tid in tids}
stop.set()
print(before, MASTER_NICE, t.native_id in after, min(after.values()))
"""


def test_every_thread_is_niced() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    before, target, seen, lowest = out.stdout.split()
    assert int(before) < int(target)  # the helper thread started at the default priority
    assert seen == "True"
    assert int(lowest) >= int(target)  # main thread and the earlier thread both lowered
