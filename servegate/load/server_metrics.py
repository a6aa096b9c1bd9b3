"""Sample the endpoint's Prometheus metrics during a run (a thread of the CLI process).

The load itself runs in Locust child processes; this thread only GETs a small text page every
``interval_s`` (or asks Prometheus), so it neither shares an event loop nor a core budget
with the load generator's workers. Each scrape is appended to ``server_metrics.jsonl`` at
once (a killed run keeps its series); servegate.metrics.server turns the file into series.
A scrape that fails is recorded as an error line and the sampler carries on.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from servegate.errors import UserError
from servegate.metrics.clock import now_ns
from servegate.metrics.server import SERVER_METRICS_FILE, parse_exposition

Scrape = Callable[[], dict[str, float]]
DEFAULT_INTERVAL_S = 1.0


def endpoint_scrape(metrics_url: str, timeout_s: float = 2.0) -> Scrape:
    """Read ``metrics_url`` (an endpoint's ``/metrics``) and parse its exposition."""

    def scrape() -> dict[str, float]:
        try:
            with urllib.request.urlopen(metrics_url, timeout=timeout_s) as resp:
                text = resp.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise UserError(f"GET {metrics_url}: {exc}") from None
        return parse_exposition(text)

    return scrape


class ServerSampler:
    """Call ``scrape`` every ``interval_s`` while inside ``with``; one JSON line per call."""

    def __init__(
        self, scrape: Scrape, run_dir: Path, source: str, interval_s: float = DEFAULT_INTERVAL_S
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.scrape = scrape
        self.path = Path(run_dir) / SERVER_METRICS_FILE
        self.source = source
        self.interval_s = interval_s
        self.count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fh: IO[bytes] | None = None

    def _write(self, doc: dict[str, Any]) -> None:
        assert self._fh is not None
        self._fh.write(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE))
        self._fh.flush()

    def sample_once(self) -> None:
        t = now_ns()
        try:
            self._write({"wall_ns": t, "values": self.scrape()})
        except (UserError, OSError, ValueError) as exc:
            self._write({"wall_ns": t, "error": (str(exc).splitlines() or ["?"])[0][:300]})
        self.count += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_once()

    def __enter__(self) -> ServerSampler:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")
        self._write({"source": self.source, "interval_s": self.interval_s})
        self.sample_once()
        self._thread = threading.Thread(target=self._run, name="server-metrics", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.sample_once()  # the counters' last values, for the last rate
        finally:
            assert self._fh is not None
            self._fh.close()
