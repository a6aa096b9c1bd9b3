"""Run the simulator until SIGTERM or SIGINT, then shut down cleanly.

Once listening it prints one line, ``servegate-sim listening on http://HOST:PORT``, flushed,
so a parent process (see :class:`servegate.sim.process.SimProcess`) learns the port when
it asked for port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys

from servegate.sim.app import SimApp
from servegate.sim.http import HttpServer
from servegate.sim.settings import READY_PREFIX, SimSettings


async def serve(settings: SimSettings, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or a termination signal arrives)."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    app = SimApp(settings)
    plan = app.start_plan
    print(f"servegate-sim: {plan.describe()}", file=sys.stderr, flush=True)
    if plan.marker is not None and not plan.cache_hit:
        loop.call_later(plan.download_s, app.complete_download)
    driver_task = loop.create_task(app.driver.run())
    server = HttpServer(app.handle, app.metrics.connection_opened)
    try:
        port = await server.start(settings.host, settings.port)
    except OSError as exc:
        driver_task.cancel()
        raise OSError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    # The tens of thousands of objects left by imports and setup live until exit: moved out
    # of the collector's reach, a full collection no longer stalls every stream (16-30 ms
    # here, which delayed request timestamps and showed up as client timing error).
    gc.collect()
    gc.freeze()
    print(f"{READY_PREFIX}{host}:{port} (model {settings.model_name})", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop(settings.drain_s)
        driver_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driver_task
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def run(settings: SimSettings) -> None:
    """Blocking entry point: uvloop when it is installed, asyncio's loop otherwise."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        asyncio.run(serve(settings))
        return
    if sys.version_info >= (3, 12):  # pragma: no cover
        uvloop.run(serve(settings))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(settings))
