"""POST /tokenize: vLLM's token counting endpoint, with the simulator's counting rule.

Request ``{"model", "prompt"}`` or ``{"model", "messages"}`` (chat framing counted as in
chat requests); answer ``{"count", "max_model_len", "tokens"}``. The token ids are stable
hashes of each token's text (the simulator has no vocabulary of ids).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import orjson
from pydantic import Field

from servegate.sim.endpoints._common import ApiModel
from servegate.sim.endpoints.chat import ChatMessage
from servegate.sim.http import Request, Responder
from servegate.sim.oai import ApiError, parse_body
from servegate.sim.tokens import CHAT_TOKENS_PER_MESSAGE, token_texts

if TYPE_CHECKING:
    from servegate.sim.app import SimApp

ID_SPACE = 1 << 17


class TokenizeRequest(ApiModel):
    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1)
    add_special_tokens: bool = True


def token_id(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little") % (
        ID_SPACE
    )


async def handle(app: SimApp, req: Request, resp: Responder) -> None:
    s = app.settings
    body = parse_body(req.body, TokenizeRequest)
    if body.model is not None and not s.serves(body.model):
        raise ApiError(404, f"The model `{body.model}` does not exist.", "model")
    if (body.prompt is None) == (body.messages is None):
        raise ApiError(400, "give prompt or messages, exactly one", "prompt")
    if body.prompt is not None:
        ids = [token_id(t) for t in token_texts(body.prompt)]
    else:
        assert body.messages is not None
        ids = []
        for m in body.messages:
            ids += [token_id(f"<{m.role}>")] * CHAT_TOKENS_PER_MESSAGE
            ids += [token_id(t) for t in token_texts(m.text())]
    doc = {"count": len(ids), "max_model_len": s.max_model_len, "tokens": ids}
    resp.send(200, orjson.dumps(doc))
