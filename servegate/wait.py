"""One way to wait: poll a condition with a deadline, an interval and a message on timeout.

Every loop of the form "try, sleep, try again until a deadline" goes through here, so a
deadline is always measured on the monotonic clock, the last check runs at (not before) the
deadline, and a timeout says what was awaited.

    pod = wait_for(lambda: ready_pod(ns), 60, f"no ready pod in {ns}")
    if poll(port_open, 5) is None: ...
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from servegate.errors import UserError

T = TypeVar("T")


class WaitTimeout(UserError):
    """A condition that did not hold within its deadline (the message says which)."""


def poll(
    check: Callable[[], T | None],
    timeout_s: float,
    interval_s: float = 1.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Call ``check`` until it returns something other than None or False; return that.

    Returns None when ``timeout_s`` passes first. ``check`` runs at least once, and once more
    at the deadline if the interval would overshoot it."""
    if timeout_s < 0 or interval_s <= 0:
        raise ValueError("timeout_s must be >= 0 and interval_s > 0")
    deadline = clock() + timeout_s
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(interval_s, left))


def wait_for(
    check: Callable[[], T | None],
    timeout_s: float,
    message: str | Callable[[], str],
    interval_s: float = 1.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Like :func:`poll`, but a timeout raises :class:`WaitTimeout` with ``message`` (a
    callable is asked only then, so it can describe the last state seen)."""
    value = poll(check, timeout_s, interval_s, clock=clock, sleep=sleep)
    if value is None:
        text = message() if callable(message) else message
        raise WaitTimeout(f"{text} (after {timeout_s:g} s)")
    return value


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """True once ``check()`` is true; False when ``timeout_s`` passes first."""
    return poll(check, timeout_s, interval_s) is not None
