"""The record-writing thread is lowered to background priority, and only that thread."""

from __future__ import annotations

import os
import threading

from servegate.load.background import BACKGROUND_NICE, lower_this_thread


def test_only_the_calling_thread_is_lowered() -> None:
    main_before = os.getpriority(os.PRIO_PROCESS, 0)
    seen: dict[str, int] = {}

    def body() -> None:
        seen["returned"] = lower_this_thread()
        seen["tid"] = threading.get_native_id()
        seen["policy"] = os.sched_getscheduler(0)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen["returned"] == BACKGROUND_NICE
    assert seen["policy"] == os.SCHED_OTHER
    assert os.getpriority(os.PRIO_PROCESS, 0) == main_before  # the caller's thread untouched


def test_a_thread_already_lower_stays_lower() -> None:
    seen: dict[str, int] = {}

    def body() -> None:
        seen["returned"] = lower_this_thread(niceness=5)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    expected = max(5, os.getpriority(os.PRIO_PROCESS, 0))
    assert seen["returned"] == expected
