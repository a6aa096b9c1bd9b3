"""GET /v1/models: the one served model, with vLLM's extra ``max_model_len`` field."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from servegate.sim.http import Request, Responder

if TYPE_CHECKING:
    from servegate.sim.app import SimApp


async def handle(app: SimApp, req: Request, resp: Responder) -> None:
    s = app.settings
    card = {
        "id": s.model_name,
        "object": "model",
        "created": app.created,
        "owned_by": "servegate-sim",
        "root": s.model_name,
        "parent": None,
        "max_model_len": s.max_model_len,
        "permission": [],
    }
    if s.model_version:
        card["servegate_model_version"] = s.model_version
    # LoRA adapters are listed as vLLM lists them: root = the adapter's path, parent = base
    cards = [card] + [
        {**card, "id": name, "root": path, "parent": s.model_name}
        for name, path in s.adapters.items()
    ]
    resp.send(200, orjson.dumps({"object": "list", "data": cards}))
