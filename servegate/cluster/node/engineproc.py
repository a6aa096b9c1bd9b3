"""Run the built llama-server on a free loopback port, for tests, benchmarks and docs.

    with EngineProcess(enginebuild.build()) as eng:
        client = openai.OpenAI(base_url=eng.base_url + "/v1", api_key="x")

The server binds port 0 and logs the address it got ("listening on http://127.0.0.1:N");
the port is read from that line, so there is no race between choosing a port and binding
it. Leaving the block sends SIGTERM and waits (SIGKILL after a grace period).
"""

from __future__ import annotations

import re
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from servegate.cluster.node import enginebuild, tinymodel
from servegate.errors import UserError
from servegate.procs import end
from servegate.wait import wait_until

#: The engine overlays' llama-server flags (manifests/*/overlays/engine), minus the address.
OVERLAY_FLAGS = (
    "--alias",
    "llm",
    "--metrics",
    "--parallel",
    "4",
    "--ctx-size",
    "8192",
    "--threads",
    "2",
    "--threads-batch",
    "2",
)
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


class EngineProcess:
    def __init__(
        self,
        build: enginebuild.EngineBuild,
        model: Path | None = None,
        flags: tuple[str, ...] = OVERLAY_FLAGS,
        timeout: float = 120.0,
        args: list[str] | None = None,
    ) -> None:
        """``args``: the whole command line after the binary instead of model, loopback
        address, port 0 and ``flags`` (it must listen on 127.0.0.1)."""
        self.args = args
        self.build = build
        self.model = model
        self.flags = flags
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.log_lines: list[str] = []
        self._found = threading.Event()
        self._drain: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EngineProcess:
        if self.args is None:
            model = self.model or tinymodel.build()
            args = ["--model", str(model), "--host", "127.0.0.1", "--port", "0", *self.flags]
        else:
            args = self.args
        self.proc = subprocess.Popen(
            [str(self.build.server), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_log(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log_lines.append(line.rstrip("\n"))
            m = _LISTENING.search(line)
            if m and not self._found.is_set():
                self.port = int(m.group(1))
                self._found.set()
        self._found.set()  # the server exited: stop waiting

    def _wait_ready(self) -> None:
        self._found.wait(self.timeout)
        if not self.port:
            detail = " | ".join(self.log_lines[-3:]) or "no output"
            raise UserError(f"llama-server did not start listening: {detail}")
        if not wait_until(self._healthy, self.timeout, interval_s=0.05):
            raise UserError(f"llama-server at {self.base_url} did not become healthy in time")

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise UserError(f"llama-server exited ({self.proc.returncode}): {self.log_lines[-1:]}")
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        code = end(self.proc, grace=10.0)
        if self._drain is not None:
            self._drain.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
