"""Run the simulator in a child process on a free loopback port, for tests and benchmarks.

    with SimProcess(decode_base_s=0.0) as sim:
        client = openai.OpenAI(base_url=sim.base_url + "/v1", api_key="x")

The child binds port 0 and reports the port it got on its first stdout line, so there is
no race between picking a free port and binding it. Leaving the block sends SIGTERM and
waits; a child that does not exit in time is killed. Keyword arguments are settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any

from servegate.errors import UserError
from servegate.procs import end, tied
from servegate.sim.settings import READY_PREFIX, SimSettings
from servegate.wait import wait_until


class SimProcess:
    def __init__(
        self,
        *,
        wait_loaded: bool = True,
        timeout: float = 20.0,
        cpu: int | None = None,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
        **settings: Any,
    ) -> None:
        settings.setdefault("host", "127.0.0.1")
        settings.setdefault("port", 0)
        self.settings = SimSettings.model_validate(settings)  # fail fast, in this process
        self.wait_loaded = wait_loaded
        self.timeout = timeout
        self.cpu = cpu
        self._env = env
        self._preexec = preexec_fn  # run in the child before exec (e.g. a parent-death signal)
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.stderr_lines: list[str] = []
        self._drain: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def _argv(self) -> list[str]:
        argv = [sys.executable, "-m", "servegate", "sim"]
        for name, value in self.settings.model_dump(exclude_defaults=False).items():
            if name == "api_key":
                continue  # passed in the environment (start), never on the command line
            if name in SimSettings.model_fields and value != SimSettings.model_fields[name].default:
                flag = "--" + name.replace("_", "-")
                if isinstance(value, bool):
                    argv.append(flag if value else "--no-" + name.replace("_", "-"))
                else:
                    argv += [flag, str(value)]
        return argv

    def start(self) -> SimProcess:
        env = dict(os.environ if self._env is None else self._env)
        # The child must not pick up knobs from the parent's environment by accident.
        env = {k: v for k, v in env.items() if not k.startswith("SERVEGATE_SIM_")}
        env["PYTHONUNBUFFERED"] = "1"
        if self.settings.api_key:
            env["SERVEGATE_SIM_API_KEY"] = self.settings.api_key
        self.proc = subprocess.Popen(
            self._argv(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=tied(env),  # stopped by the next run if we die without stopping it
            preexec_fn=self._preexec,
        )
        if self.cpu is not None:
            os.sched_setaffinity(self.proc.pid, {self.cpu})
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def _wait_ready(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the child prints it as soon as it listens
        if not line.startswith(READY_PREFIX):
            self.proc.wait(timeout=self.timeout)
            if self._drain is not None:
                self._drain.join(timeout=5)
            detail = "; ".join(self.stderr_lines[-3:]) or line.strip() or "no output"
            raise UserError(f"servegate sim did not start: {detail}")
        self.port = int(line[len(READY_PREFIX) :].split()[0].rsplit(":", 1)[1])
        if not self.wait_loaded:
            return
        start = self.settings.startup_delay_s + self.settings.download_delay_s
        if not wait_until(self._healthy, self.timeout + start, interval_s=0.02):
            raise UserError(f"servegate sim at {self.base_url} did not become healthy in time")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                return bool(r.status == 200)
        except urllib.error.HTTPError:
            return False

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 5 s. Returns the exit code."""
        if self.proc is None:
            return None
        end(self.proc, grace=5.0, drain=self._drain)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and (stream is not self.proc.stderr or not self._alive()):
                stream.close()
        return self.proc.returncode

    def _alive(self) -> bool:
        return self._drain is not None and self._drain.is_alive()

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
