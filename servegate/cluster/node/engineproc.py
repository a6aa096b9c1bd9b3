"""Run the built llama-server on a free loopback port, for tests, benchmarks and docs.

    with EngineProcess(enginebuild.build()) as eng:
        client = openai.OpenAI(base_url=eng.base_url + "/v1", api_key="x")

The server binds port 0 and logs the address it got ("listening on http://127.0.0.1:N");
the port is read from that line, so there is no race between choosing a port and binding
it. Leaving the block sends SIGTERM and waits (SIGKILL after a grace period).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from servegate.cluster.node import enginebuild, tinymodel
from servegate.cluster.node.serverproc import LoopbackServer
from servegate.errors import UserError

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


class EngineProcess(LoopbackServer):
    name = "llama-server"

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
        super().__init__(timeout)
        self.args = args
        self.build = build
        self.model = model
        self.flags = flags
        self._found = threading.Event()

    def start(self) -> EngineProcess:
        if self.args is None:
            model = self.model or tinymodel.build()
            args = ["--model", str(model), "--host", "127.0.0.1", "--port", "0", *self.flags]
        else:
            args = self.args
        self.spawn([str(self.build.server), *args])
        try:
            self._found.wait(self.timeout)
            if not self.port:
                raise UserError(f"llama-server did not start listening: {self.last_lines()}")
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def on_line(self, line: str) -> None:
        m = _LISTENING.search(line)
        if m and not self._found.is_set():
            self.port = int(m.group(1))
            self._found.set()

    def on_exit(self) -> None:
        self._found.set()  # the server exited: stop waiting
