"""A third-party HTTP server run as a child on loopback for a ``with`` block: its output kept
(drained by a thread, so a full pipe never stalls it), ready once ``GET /health`` answers 200,
ended with SIGTERM (SIGKILL after a grace period). llama-server and llm-d-inference-sim
are run this way; what differs is how each gets its port (``start`` of the subclass)."""

from __future__ import annotations

import subprocess
import threading
import urllib.error
import urllib.request
from types import TracebackType
from typing import Self

from servegate.errors import UserError
from servegate.procs import end
from servegate.wait import wait_until


class LoopbackServer:
    name = "server"  # in messages

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.log_lines: list[str] = []
        self._drain: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        raise NotImplementedError

    def spawn(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()

    def on_line(self, line: str) -> None:
        """Called for every line of output, from the drain thread."""

    def on_exit(self) -> None:
        """Called from the drain thread once the output has ended (the server exited)."""

    def _read_log(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            self.log_lines.append(line)
            self.on_line(line)
        self.on_exit()

    def last_lines(self, n: int = 3) -> str:
        return " | ".join(self.log_lines[-n:]) or "no output"

    def healthy(self) -> bool:
        """``GET /health`` answered 200; a one-line UserError once the server has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise UserError(f"{self.name} exited ({self.proc.returncode}): {self.last_lines()}")
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self) -> None:
        if not wait_until(self.healthy, self.timeout, interval_s=0.05):
            raise UserError(f"{self.name} at {self.base_url} did not become healthy in time")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        code = end(self.proc, grace=10.0, drain=self._drain)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
