"""GET /metrics: Prometheus text format with vLLM and DCGM metric names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST

from servegate.sim.http import Request, Responder

if TYPE_CHECKING:
    from servegate.sim.app import SimApp


async def handle(app: SimApp, req: Request, resp: Responder) -> None:
    resp.send(200, app.metrics.render(), CONTENT_TYPE_LATEST.encode())
