"""GET /health: 503 while the simulated model loads, then 200 with an empty body (as vLLM)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from servegate.sim.http import Request, Responder
from servegate.sim.oai import error_body

if TYPE_CHECKING:
    from servegate.sim.app import SimApp


async def handle(app: SimApp, req: Request, resp: Responder) -> None:
    if app.loaded:
        resp.send(200, b"")
    else:
        resp.send(503, error_body(503, "model is loading"))
