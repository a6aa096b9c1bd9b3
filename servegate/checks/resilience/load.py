"""Load and version probes that run while a check changes the cluster.

``run_profile`` blocks, so the steady load runs in a thread of the test (Locust itself runs
in the load engine's child processes, never here). The version probe is a second thread that
asks ``/v1/models`` on a fresh connection each time: the Service then picks a backend per
request, so the share of each version is a share of requests, where Locust's keep-alive
connections would pin each user to one pod.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from servegate.checks.resilience.checks import VERSION_HEADER, VersionSample
from servegate.harness.load import LoadResult
from servegate.wait import wait_for


class VersionProbe:
    """Samples which version answers, ``rate_hz`` times a second, until stopped."""

    def __init__(self, url: str, rate_hz: float = 8.0, timeout_s: float = 2.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.period = 1.0 / rate_hz
        self.timeout = timeout_s
        self.samples: list[VersionSample] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="version-probe", daemon=True)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def sample(self) -> VersionSample:
        """One request on a fresh connection: which version answered, or why none did."""
        t = self.now()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", "/v1/models", headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            version = resp.getheader(VERSION_HEADER)
            if resp.status != 200:
                return VersionSample(t, None, f"http_{resp.status}")
            if not version:
                return VersionSample(t, None, "no_version_header")
            return VersionSample(t, version)
        except TimeoutError:
            return VersionSample(t, None, "timeout")
        except (OSError, http.client.HTTPException) as exc:
            return VersionSample(t, None, type(exc).__name__)
        finally:
            conn.close()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.samples.append(self.sample())
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> VersionProbe:
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> list[VersionSample]:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 1)
        return list(self.samples)


@contextmanager
def probing(url: str, rate_hz: float = 8.0) -> Iterator[VersionProbe]:
    probe = VersionProbe(url, rate_hz).start()
    try:
        yield probe
    finally:
        probe.stop()


@contextmanager
def background(fn: Callable[[], LoadResult]) -> Iterator[Future[LoadResult]]:
    """Run ``fn`` (a blocking load run) in a thread; the block waits for it on exit."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load")
    try:
        yield pool.submit(fn)
    finally:
        pool.shutdown(wait=True)


def errors_by_kind(summary: Any) -> dict[str, int]:
    """The load run's classified errors (summary.counts.errors), as plain ints."""
    raw = getattr(summary.counts, "errors", None) or {}
    return {str(k): int(v) for k, v in dict(raw).items()}


def wait_serving(url: str, timeout_s: float = 60.0) -> None:
    """Wait until ``/v1/models`` answers 200 (for pods that have no readiness probe)."""
    probe = VersionProbe(url)
    last: list[VersionSample] = []

    def serving() -> bool:
        last[:] = [probe.sample()]
        return last[0].error is None or last[0].error == "no_version_header"

    def why() -> str:
        return f"{url}/v1/models did not answer 200 ({last[0].error if last else 'no answer'})"

    wait_for(serving, timeout_s, why, 0.5)
