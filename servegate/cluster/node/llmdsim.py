"""llm-d-inference-sim: a vLLM-shaped simulator that no one on this team wrote.

It serves the OpenAI API and vLLM's Prometheus metrics (``vllm:num_requests_waiting`` and
the rest) from its own code, so a check that passes on it shows servegate reading metrics it
did not emit itself. Built like servegate's other Go tools (etcd, Kubernetes): ``go build
-mod=mod -v`` of its command inside a one-line wrapper module that requires the pinned tag,
through the Go module proxy (pure Go, ``CGO_ENABLED=0``, a static binary; see
:func:`wrapper_gomod` for why not ``go install``), with packages built against ``go list
-deps`` as progress, cached under ``~/.cache/servegate/llmd-sim/<version>/`` beside the
module's LICENSE (Apache-2.0). Go's module and build caches make a rebuild after an
interrupted run cheap.

``LlmdSimProcess`` runs it on loopback. The server has no address flag: it listens on every
IPv4 address of the host at the given port (a free one, chosen here), for the block only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from servegate.cluster import gobuild, gomod
from servegate.cluster.node.layout import cache_root
from servegate.cluster.node.serverproc import LoopbackServer
from servegate.errors import UserError

MODULE = "github.com/llm-d/llm-d-inference-sim"
PACKAGE = f"{MODULE}/cmd/llm-d-inference-sim"
VERSION = "v0.10.2"
"""The newest tag on 2026-12-04 (read from the repository's tags: the module proxy here
serves ``go list -m -json MODULE@v0.10.2`` but not the module's version list)."""
BINARY = "llm-d-inference-sim"

#: The flags the ``llmd`` overlay and the loopback runs share: the served model name, the
#: built-in regex tokenizer (no Hugging Face lookup: the pod has no internet), and vLLM-like
#: timing (every request decodes in its own sequence slot; beyond max-num-seqs requests wait
#: in the queue that ``vllm:num_requests_waiting`` counts).
SERVE_FLAGS: tuple[str, ...] = (
    "--model",
    "llm",
    "--force-dummy-tokenizer",
    "--mode",
    "random",
    "--max-num-seqs",
    "16",
    "--time-to-first-token",
    "50ms",
    "--inter-token-latency",
    "10ms",
)


@dataclass(frozen=True)
class LlmdBuild:
    binary: Path
    licence: Path
    cached: bool


def output_dir() -> Path:
    return cache_root() / "llmd-sim" / VERSION


def cached() -> LlmdBuild | None:
    """The built simulator if it is in the cache; None (nothing is compiled) otherwise."""
    out = output_dir()
    if (out / BINARY).is_file() and (out / "LICENSE").is_file():
        return LlmdBuild(out / BINARY, out / "LICENSE", True)
    return None


def _noop(label: str, done: int, total: int) -> None:
    """Default progress sink."""


def _go_out(go: str, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> str:
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ go {' '.join(args)}\n")
        proc = subprocess.run(
            [go, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        fh.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"go {args[0]} for {BINARY} {VERSION} failed ({reason}); see {log}")
    return proc.stdout


def wrapper_gomod(upstream_gomod: str) -> str:
    """A module that requires the pinned version and nothing else: ``go build`` of the
    command inside it then selects exactly the upstream go.mod's versions (module graph
    pruning), like ``go install pkg@version``, which cannot be used here: it asks the proxy
    for the module's version list (for deprecations), and the proxy here refuses that."""
    go = gomod.go_directive(upstream_gomod)
    return f"module {gomod.WRAPPER_MODULE}/llmd-sim\n\ngo {go}\n\nrequire {MODULE} {VERSION}\n"


def build(progress: gobuild.ProgressFn = _noop) -> LlmdBuild:
    """The cached simulator of the pinned tag, compiling it (minutes when cold) if needed."""
    done = cached()
    if done is not None:
        return done
    label = f"{BINARY} {VERSION}"
    go = gobuild.go_binary()
    env = gomod.build_env(dict(os.environ))
    work = cache_root() / "build" / f"{BINARY}-{VERSION}"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    progress(label, 0, 0)
    started = time.monotonic()
    upstream = gobuild.upstream_gomod(go, MODULE, VERSION, work, env)
    mod = work / "go.mod"
    if not mod.is_file() or MODULE not in mod.read_text("utf-8"):
        mod.write_text(wrapper_gomod(upstream), "utf-8")
    total = len(_go_out(go, ["list", "-mod=mod", "-deps", PACKAGE], work, env, log).split())
    out_bin = work / "out" / BINARY
    cmd = [go, "build", "-mod=mod", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(out_bin)]
    gobuild.build_streaming([*cmd, PACKAGE], work, log, env, label, max(1, total), progress)
    if not out_bin.is_file():
        raise UserError(
            f"go build of {label} finished after {time.monotonic() - started:.0f}s but"
            f" {out_bin} is missing; see {log}"
        )
    info = json.loads(_go_out(go, ["list", "-mod=mod", "-m", "-json", MODULE], work, env, log))
    licence = Path(info["Dir"]) / "LICENSE"
    out = output_dir()
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    shutil.copyfile(licence, part / "LICENSE")
    shutil.copy2(out_bin, part / BINARY)
    (part / BINARY).chmod(0o755)
    shutil.rmtree(out, ignore_errors=True)
    part.replace(out)  # written last: a half build is never taken for a finished one
    shutil.rmtree(work, ignore_errors=True)
    return LlmdBuild(out / BINARY, out / "LICENSE", False)


def _free_port() -> int:
    """A TCP port free on loopback now (the server takes a port number, not port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlmdSimProcess(LoopbackServer):
    """The simulator on a free port for the duration of a ``with`` block."""

    name = BINARY

    def __init__(
        self, build: LlmdBuild, flags: tuple[str, ...] = SERVE_FLAGS, timeout: float = 60.0
    ) -> None:
        super().__init__(timeout)
        self.build = build
        self.flags = flags

    def start(self) -> LlmdSimProcess:
        self.port = _free_port()
        self.spawn([str(self.build.binary), "--port", str(self.port), *self.flags])
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self
